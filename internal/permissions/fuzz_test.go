package permissions

import (
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
)

// FuzzParseDocumentAndGate: policy documents come from outside (a role's
// policies read back from IAM); parsing and gating must never panic, and a
// document the gate passes has only known read-only actions.
func FuzzParseDocumentAndGate(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/p/x"}]}`))
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`))
	f.Add([]byte(`{"Statement":[{"Effect":"Deny","NotAction":"iam:*"}]}`))
	g := Gate{Data: iamdata.Embedded(), CUR: CURScope{Bucket: "b", Prefix: "p/"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDocument(data)
		if err != nil {
			return
		}
		fs := g.Check("fuzz", d)
		if Failed(fs) {
			return
		}
		for _, s := range d.Statement {
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Action {
				act, ok := g.Data.Lookup(a)
				if !ok || !act.ReadOnly() {
					t.Fatalf("gate passed %q", a)
				}
			}
		}
	})
}
