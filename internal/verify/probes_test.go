package verify

import (
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/permissions"
)

// targets are the grants a role can have: management or member, Bedrock
// on or off, log groups or none.
func targets() []Role {
	var out []Role
	for _, mgmt := range []bool{false, true} {
		for _, bedrock := range []bool{false, true} {
			for _, groups := range [][]string{nil, {"app"}} {
				r := memberRole()
				if mgmt {
					r = mgmtRole()
				}
				r.Bedrock, r.LogGroups = bedrock, groups
				out = append(out, r)
			}
		}
	}
	return out
}

// Every service the catalog can grant has a probe; a module added to the
// catalog without one fails here.
func TestEveryGrantedServiceHasAProbe(t *testing.T) {
	for _, r := range targets() {
		granted := permissions.GrantedServices(r.Target())
		probes := probesFor(r, granted, "us-east-1", r.Regions)
		for _, svc := range granted {
			if !slices.ContainsFunc(probes, func(p Probe) bool { return p.Service == svc }) {
				t.Errorf("%+v: the catalog grants %s, and no probe covers it", r.Target(), svc)
			}
		}
		if r.Bedrock != slices.ContainsFunc(probes, func(p Probe) bool { return p.Service == "bedrock" }) {
			t.Errorf("Bedrock %v, but probes %v", r.Bedrock, probes)
		}
	}
}

// Every probe calls an API the catalog grants, for the roles it runs for,
// so a verified role proves the grant and nothing beyond it.
func TestEveryProbeIsGrantedByTheCatalog(t *testing.T) {
	for _, r := range targets() {
		var actions []string
		for _, m := range permissions.Granted(r.Target()) {
			actions = append(actions, m.Actions()...)
		}
		for _, p := range probesFor(r, permissions.GrantedServices(r.Target()), "us-east-1", r.Regions) {
			spec, ok := specOf(p)
			if !ok {
				t.Fatalf("no spec for %s", p.Name())
			}
			if !slices.Contains(actions, spec.iamAction) {
				t.Errorf("probe %s needs %s, which the catalog does not grant %+v", p.Name(), spec.iamAction, r.Target())
			}
			if !strings.HasPrefix(spec.iamAction, spec.service+":") {
				t.Errorf("probe %s: IAM action %s is not of service %s", p.Name(), spec.iamAction, spec.service)
			}
		}
	}
	// The write-safety calls are granted by the self-check module.
	selfCheck := map[string]bool{}
	for _, m := range permissions.Modules() {
		if m.ID == permissions.ModuleSelfCheck {
			for _, a := range m.Actions() {
				selfCheck[a] = true
			}
		}
	}
	for _, a := range []string{"ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion", "SimulatePrincipalPolicy"} {
		if !selfCheck["iam:"+a] {
			t.Errorf("the self-check module does not grant iam:%s", a)
		}
	}
}

func TestRegionalProbesRunInEveryRegion(t *testing.T) {
	r := memberRole()
	probes := probesFor(r, permissions.GrantedServices(r.Target()), "us-east-1", []string{"us-east-1", "eu-west-1", "ap-southeast-2"})
	count := map[string]int{}
	for _, p := range probes {
		count[p.Name()]++
	}
	for name, n := range count {
		spec, _ := specOf(Probe{Service: strings.Split(name, ":")[0], Action: strings.Split(name, ":")[1]})
		want := 1
		if spec.regional {
			want = 3
		}
		if n != want {
			t.Errorf("%s runs %d times, want %d", name, n, want)
		}
	}
}
