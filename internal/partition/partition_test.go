package partition

import "testing"

func TestOfRegion(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-1": "aws", "": "aws",
		"us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov",
		"cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
	} {
		if got := OfRegion(region); got != want {
			t.Errorf("OfRegion(%q) = %q, want %q", region, got, want)
		}
	}
}
