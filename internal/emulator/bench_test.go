package emulator_test

import (
	"fmt"
	"testing"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

// Run with: go test ./internal/emulator -run '^$' -bench . -benchtime 3x

func BenchmarkStart(b *testing.B) {
	for range b.N {
		srv, err := emulator.Start(b.Context(), emulator.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := srv.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// benchOrg spreads n member accounts over two OUs, one of them nested.
func benchOrg(n int) emulator.OrgSpec {
	return emulator.OrgSpec{OUs: []emulator.OUSpec{
		{Name: "Workloads", OUs: []emulator.OUSpec{{Name: "Prod", Accounts: n / 2}}},
		{Name: "Sandbox", Accounts: n - n/2},
	}}
}

func BenchmarkSeedOrganization(b *testing.B) {
	for _, n := range []int{20, 500} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			srv := emulatortest.Start(b)
			for range b.N {
				b.StopTimer()
				if err := srv.Reset(b.Context()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := emulator.SeedOrganization(b.Context(), srv.Config(), benchOrg(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "accounts/s")
		})
	}
}

func BenchmarkDeployStackSet(b *testing.B) {
	template := `
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: BenchRole
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: "arn:aws:iam::111122223333:role/vendor"}
            Action: sts:AssumeRole
`
	for _, n := range []int{20, 500} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			srv := emulatortest.Start(b)
			for range b.N {
				b.StopTimer()
				if err := srv.Reset(b.Context()); err != nil {
					b.Fatal(err)
				}
				org, err := emulator.SeedOrganization(b.Context(), srv.Config(), benchOrg(n))
				if err != nil {
					b.Fatal(err)
				}
				workloads, _ := org.OUByPath("Root/Workloads")
				sandbox, _ := org.OUByPath("Root/Sandbox")
				b.StartTimer()
				dep, err := emulator.DeployStackSet(b.Context(), srv.Config(), emulator.StackSetSpec{
					Name:                  "bench",
					TemplateBody:          template,
					OrganizationalUnitIDs: []string{workloads.ID, sandbox.ID},
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(dep.Instances) != n {
					b.Fatalf("%d instances, want %d", len(dep.Instances), n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "accounts/s")
		})
	}
}
