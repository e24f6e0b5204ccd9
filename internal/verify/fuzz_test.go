package verify

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
)

// FuzzParseRoleARN: a role ARN from a command line or a stack output
// either fails with ErrBadRoleARN or parses into parts that print back as
// the same ARN.
func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::123456789012:role/VendorReadOnly",
		"arn:aws-cn:iam::123456789012:role/path/to/Role",
		"arn:aws:iam::123456789012:user/bob",
		"arn:aws:iam:us-east-1:123456789012:role/R",
		"arn:aws:iam::12345678901:role/R",
		"arn:aws:iam::123456789012:role/",
		"arn:aws:iam::123456789012:role//R",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseRoleARN(s)
		if err != nil {
			if !strings.Contains(err.Error(), ErrBadRoleARN.Error()) {
				t.Fatalf("error %v does not wrap ErrBadRoleARN", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("ParseRoleARN(%q) = %+v, which prints as %q", s, a, a.String())
		}
		if !isAccountID(a.AccountID) || !validRoleName(a.Name) {
			t.Fatalf("parsed %+v from %q", a, s)
		}
	})
}

// FuzzDecodePolicy: a policy document read back from IAM either fails to
// decode or goes through the read-only gate without panicking, and a
// document that grants any write action never passes it.
func FuzzDecodePolicy(f *testing.F) {
	for _, s := range []string{
		"%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3APutObject%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Deny","Action":["iam:CreateUser"],"Resource":"*"}]}`,
		"%ZZ",
		"",
	} {
		f.Add(s)
	}
	gate := permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "acme-cur", Prefix: "cur/"}}
	f.Fuzz(func(t *testing.T, raw string) {
		doc, err := decodePolicy(raw)
		if err != nil {
			return
		}
		findings := gate.Check("fuzz", doc)
		for _, s := range doc.Statement {
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Action {
				if act, ok := iamdata.Embedded().Lookup(a); ok && iamdata.IsWrite(act) && !permissions.Failed(findings) {
					t.Fatalf("%s is a write, and the gate passed %s", a, raw)
				}
			}
		}
	})
}
