package policyscan

import (
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
)

// FuzzScan feeds arbitrary templates through the scanner and the gate: no
// input may panic, and a scan that succeeds yields checkable policies.
func FuzzScan(f *testing.F) {
	f.Add([]byte("Resources:\n  R:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyDocument:\n        Statement: [{Effect: Allow, Action: s3:GetObject, Resource: '*'}]\n"))
	f.Add([]byte(`{"Statement":{"Effect":"Allow","NotAction":"*"}}`))
	f.Add([]byte("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies:\n        - !If [C, {PolicyName: a, PolicyDocument: {Statement: [!Ref X]}}, !Ref AWS::NoValue]\n"))
	g := permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "b", Prefix: "p/"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Scan(data, Options{})
		if err != nil {
			return
		}
		for _, p := range r.Policies {
			g.Check(p.Location, p.Document)
		}
	})
}
