package verify

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
)

// grownDataset is the embedded dataset with extra services, and extra
// write actions in every service the catalog grants, as AWS adds them.
func grownDataset(t *testing.T, services, writesPerService int) *iamdata.Dataset {
	t.Helper()
	d := iamdata.Embedded()
	var b strings.Builder
	src := d.Source()
	fmt.Fprintf(&b, "#source\t%s\t%s\t%s\t%s\t%s\n", src.Package, src.Version, src.UpdatedAt, src.License, src.Notice)
	for _, svc := range d.Services() {
		fmt.Fprintf(&b, "#service\t%s\t%s\n", svc, d.ServiceName(svc))
		for _, a := range d.Actions(svc, func(iamdata.Action) bool { return true }) {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", a.Service, a.Name, a.AccessLevel)
		}
		for i := range writesPerService {
			fmt.Fprintf(&b, "%s\tGrownWrite%04d\tWrite\n", svc, i)
			fmt.Fprintf(&b, "%s\tGrownPermissions%04d\tPermissions management\n", svc, i)
		}
	}
	for i := range services {
		fmt.Fprintf(&b, "#service\tgrown%04d\tGrown service %d\n", i, i)
		for j := range 50 {
			fmt.Fprintf(&b, "grown%04d\tPut%02d\tWrite\ngrown%04d\tGet%02d\tRead\n", i, j, i, j)
		}
	}
	grown, err := iamdata.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if grown.Len() <= d.Len() {
		t.Fatalf("grown dataset has %d actions, the embedded one %d", grown.Len(), d.Len())
	}
	return grown
}

// The calls one account costs do not depend on how many services or write
// actions AWS has: the documents read back decide every action, and the
// simulator is asked once, whatever the dataset holds.
func TestCallsPerAccountDoNotGrowWithTheDataset(t *testing.T) {
	calls := func(d *iamdata.Dataset) (int64, int) {
		f := newAWSFake(t, 0)
		e := New(f.config(4), Options{S3PathStyle: true, AssumeRoleWait: -1})
		e.data = d
		rep := e.Verify(t.Context(), Role{RoleARN: "arn:aws:iam::" + memberAccount + ":role/VendorReadOnly", ExternalID: testExtID, Bedrock: true, Regions: []string{"us-east-1"}})
		if rep.Status != StatusVerified {
			t.Fatalf("status %s: %+v %+v", rep.Status, rep.Probes, rep.Unproven)
		}
		return f.calls.Load(), f.count("SimulatePrincipalPolicy")
	}
	base, baseSim := calls(iamdata.Embedded())
	grown, grownSim := calls(grownDataset(t, 2000, 500))
	if base != grown || baseSim != grownSim {
		t.Errorf("an account costs %d calls (%d simulations) with the embedded dataset, %d (%d) with 2,000 more services and 1,000 more writes each", base, baseSim, grown, grownSim)
	}
	if baseSim != 1 {
		t.Errorf("%d simulator calls per account, want 1", baseSim)
	}
	t.Logf("%d calls per member account, %d of them to the simulator", base, baseSim)
}

// Plan says what a verification costs, and the engine makes exactly that
// many calls against a fake AWS that answers every call at once.
func TestPlanIsWhatAVerificationCosts(t *testing.T) {
	member := Role{RoleARN: "arn:aws:iam::" + memberAccount + ":role/VendorReadOnly", ExternalID: testExtID, Bedrock: true, Regions: []string{"us-east-1"}}
	twoRegions := member
	twoRegions.Regions = []string{"us-east-1", "eu-west-1"}
	free := member
	free.NoPaidProbes = true
	for name, r := range map[string]Role{"member": member, "member in two regions": twoRegions, "member without paid probes": free} {
		t.Run(name, func(t *testing.T) {
			f := newAWSFake(t, 0)
			e := New(f.config(4), Options{S3PathStyle: true, AssumeRoleWait: -1})
			sum := e.VerifyAll(t.Context(), func(yield func(Role) bool) { yield(r) }, func(rep Report) {
				if rep.Status != StatusVerified {
					t.Errorf("status %s: %+v", rep.Status, rep.Probes)
				}
			})
			plan := Plan(r)
			if got := int(f.calls.Load()); got != plan.Calls || int(sum.Calls) != plan.Calls {
				t.Errorf("plan %d calls; the fake answered %d, the engine counted %d", plan.Calls, got, sum.Calls)
			}
			if got := f.count("GetCostAndUsage"); got != plan.PaidCalls || int(sum.PaidCalls) != plan.PaidCalls {
				t.Errorf("plan %d paid calls; the fake answered %d GetCostAndUsage, the engine counted %d", plan.PaidCalls, got, sum.PaidCalls)
			}
		})
	}
	if Plan(free).PaidCalls != 0 || Plan(member).PaidCalls != 1 || Plan(member).USD() != CostExplorerRequestUSD {
		t.Errorf("paid calls: %+v with, %+v without NoPaidProbes", Plan(member), Plan(free))
	}
}
