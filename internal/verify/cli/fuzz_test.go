package cli

import (
	"strings"
	"testing"
)

// FuzzParseArgs: any command line either fails with a message or yields a
// complete, validated set of options. Arguments are separated by NUL.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"--role-arn\x00arn:aws:iam::123456789012:role/VendorReadOnly",
		"--role-arn=arn:aws:iam::123456789012:role/R\x00--regions\x00us-east-1,eu-west-1\x00--cur-bucket\x00acme-cur\x00--cur-prefix\x00cur/",
		"--stack\x00acme-onboarding\x00--json",
		"--stack-set\x00acme-onboarding-roles\x00--role-name\x00VendorReadOnly\x00--call-as\x00DELEGATED_ADMIN",
		"--stack\x00acme\x00--no-bedrock",
		"--role-arn\x00x\x00--concurrency\x00-1",
		"-h",
	} {
		f.Add(s, "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60")
	}
	f.Fuzz(func(t *testing.T, line, externalID string) {
		args := strings.Split(line, "\x00")
		o, err := parseArgs(args, func(k string) string {
			if k == EnvExternalID {
				return externalID
			}
			return ""
		})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if len(externalID) >= 8 && !strings.Contains(line, externalID) && strings.Contains(err.Error(), externalID) {
				t.Fatalf("error shows the external ID: %v", err)
			}
			return
		}
		if o.mode == 0 || o.externalID == "" || o.concurrency < 1 {
			t.Fatalf("accepted incomplete options %+v", o)
		}
		switch o.mode {
		case modeStack:
			if o.curBucket != "" || o.roleName != "" {
				t.Fatalf("--stack with role settings: %+v", o)
			}
		case modeStackSet:
			if o.roleName == "" {
				t.Fatalf("--stack-set without a role name: %+v", o)
			}
		}
	})
}
