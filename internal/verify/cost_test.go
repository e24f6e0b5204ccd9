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
