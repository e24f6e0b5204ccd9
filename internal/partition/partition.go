// Package partition names the AWS partition a region belongs to. It has no
// dependencies, so the public callback package, the verify command and the
// vendor profiles share one answer.
package partition

import "strings"

// OfRegion names the AWS partition of a region: aws-cn for the China
// regions, aws-us-gov for GovCloud, aws otherwise.
func OfRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
