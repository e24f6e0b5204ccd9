package permissions

import (
	"slices"
	"testing"
)

func TestParseDocumentAcceptsStringsAndLists(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantActions []string
	}{
		{"list", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`, []string{"s3:GetObject", "s3:ListBucket"}},
		{"string", `{"Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":["*"]}]}`, []string{"iam:ListRoles"}},
		{"single statement object", `{"Statement":{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}}`, []string{"iam:ListRoles"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDocument([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Statement) != 1 || !slices.Equal([]string(d.Statement[0].Action), tt.wantActions) {
				t.Fatalf("parsed %+v", d.Statement)
			}
		})
	}
}

func TestParseDocumentRejectsGarbage(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"Statement":[{"Action":42}]}`} {
		if _, err := ParseDocument([]byte(in)); err == nil {
			t.Errorf("ParseDocument(%q) succeeded", in)
		}
	}
}
