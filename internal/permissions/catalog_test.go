package permissions

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
)

func managementTarget() Target {
	return Target{
		Partition: "aws", AccountID: "111111111111", RoleName: "VendorReadOnly",
		CURHolder: true, CURBucket: "acme-cur", CURPrefix: "cur/", CURRegion: "us-east-1", CURKMSKey: "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		Bedrock: true, LogGroups: []string{"/aws/bedrock/invocations", "app-logs"},
	}
}

func TestCatalogPassesTheGate(t *testing.T) {
	targets := map[string]Target{
		"management, every module": managementTarget(),
		"member, no bedrock":       {Partition: "aws", AccountID: "222222222222", RoleName: "VendorReadOnly"},
		"member, every module":     {Partition: "aws", AccountID: "222222222222", RoleName: "VendorReadOnly", Bedrock: true, LogGroups: []string{"g"}},
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			g := Gate{Data: iamdata.Embedded(), CUR: CURScope{Bucket: target.CURBucket, Prefix: target.CURPrefix}}
			var warned []string
			for _, p := range Policies(target) {
				for _, f := range g.Check(p.Name, p.Document) {
					if f.Severity == Error {
						t.Errorf("catalog fails the gate: %s", f)
					}
					warned = append(warned, f.Action)
				}
			}
			slices.Sort(warned)
			var want []string
			if target.CURHolder {
				want = append(want, "s3:GetObject")
				if target.CURKMSKey != "" {
					want = append(want, "kms:Decrypt")
				}
			}
			if len(target.LogGroups) > 0 {
				want = append(want, "logs:FilterLogEvents", "logs:GetLogEvents")
			}
			slices.Sort(want)
			if !slices.Equal(warned, want) {
				t.Errorf("content-read warnings for %v, want %v", warned, want)
			}
		})
	}
}

func TestCatalogActionsAreExplicitKnownAndReadOnly(t *testing.T) {
	data := iamdata.Embedded()
	seen := map[string]string{}
	for _, m := range Modules() {
		for _, s := range m.Statements {
			if len(s.Actions) == 0 || len(s.Resources) == 0 {
				t.Errorf("%s/%s: statement without actions or resources", m.ID, s.Sid)
			}
			if !slices.IsSorted(s.Actions) {
				t.Errorf("%s/%s: keep actions sorted so reviews read easily", m.ID, s.Sid)
			}
			for _, action := range s.Actions {
				a, ok := data.Lookup(action)
				switch {
				case strings.ContainsAny(action, "*?"):
					t.Errorf("%s: wildcard %s", m.ID, action)
				case !ok:
					t.Errorf("%s: %s not in the dataset", m.ID, action)
				case a.String() != action:
					t.Errorf("%s: write %s as %s", m.ID, action, a)
				case !a.ReadOnly() && (!s.ViaS3 || action != "kms:Decrypt"):
					// kms:Decrypt through S3 only is the one write a
					// read-only role has; the gate accepts nothing broader.
					t.Errorf("%s: %s is %s", m.ID, action, a.AccessLevel)
				}
				if prev, dup := seen[action]; dup {
					t.Errorf("%s granted twice (%s and %s/%s)", action, prev, m.ID, s.Sid)
				}
				seen[action] = m.ID + "/" + s.Sid
			}
		}
	}
}

// Every grant that reveals more than metadata (data contents, trust
// policies, policy documents, object names) says so, and nothing claims to
// reveal what it does not.
func TestExposesSaysWhatEveryRevealingReadReveals(t *testing.T) {
	for _, m := range Modules() {
		for _, s := range m.Statements {
			revealing := false
			for _, a := range s.Actions {
				if Reveals(a) != "" {
					revealing = true
					if s.Exposes == "" {
						t.Errorf("%s/%s grants %s, which reveals %s, but does not say so", m.ID, s.Sid, a, Reveals(a))
					}
				}
			}
			if s.Exposes != "" && !revealing {
				t.Errorf("%s/%s says it exposes %q but grants nothing that reveals it", m.ID, s.Sid, s.Exposes)
			}
		}
	}
}

func TestGrantedDependsOnAccountAndOptions(t *testing.T) {
	tests := []struct {
		name         string
		target       Target
		wantModules  []string
		wantServices []string
	}{
		{"management with bedrock", managementTarget(),
			[]string{"cost", "bedrock", "observability", "identity", "self-check"},
			[]string{"bcm-data-exports", "bedrock", "ce", "cloudtrail", "cloudwatch", "cur", "iam", "kms", "logs", "organizations", "pricing", "s3"}},
		{"member without bedrock or log groups", Target{AccountID: "2", RoleName: "R"},
			[]string{"cost", "observability", "identity", "self-check"},
			[]string{"bcm-data-exports", "ce", "cloudtrail", "cloudwatch", "cur", "iam", "logs", "organizations", "pricing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			for _, m := range Granted(tt.target) {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tt.wantModules) {
				t.Errorf("modules %v, want %v", ids, tt.wantModules)
			}
			if got := GrantedServices(tt.target); !slices.Equal(got, tt.wantServices) {
				t.Errorf("services %v, want %v", got, tt.wantServices)
			}
		})
	}
}

func TestPoliciesFillInTheTarget(t *testing.T) {
	byName := map[string]Document{}
	for _, p := range Policies(managementTarget()) {
		byName[p.Name] = p.Document
	}
	find := func(policy, sid string) DocStatement {
		for _, s := range byName[policy].Statement {
			if s.Sid == sid {
				return s
			}
		}
		t.Fatalf("policy %s has no statement %s", policy, sid)
		return DocStatement{}
	}
	if got := find("rolecall-cost-cur-bucket", "CurReportsRead").Resource; !slices.Equal(got, []string{"arn:aws:s3:::acme-cur/cur/*"}) {
		t.Errorf("CUR objects resource %v", got)
	}
	list := find("rolecall-cost-cur-bucket", "CurReportsList")
	if got := list.Condition["StringLike"]["s3:prefix"]; !slices.Equal(got, StringList{"cur/*"}) {
		t.Errorf("ListBucket condition %v, want s3:prefix like cur/*", list.Condition)
	}
	noPrefix := managementTarget()
	noPrefix.CURPrefix = ""
	for _, p := range Policies(noPrefix) {
		for _, s := range p.Document.Statement {
			if s.Condition != nil && s.Condition["StringEquals"]["kms:ViaService"] == nil {
				t.Errorf("%s/%s has a condition %v without a report prefix: the reports are the whole bucket", p.Name, s.Sid, s.Condition)
			}
		}
	}
	if got := find("rolecall-self-check", "OwnPoliciesRead").Resource; !slices.Equal(got, []string{"arn:aws:iam::111111111111:role/VendorReadOnly"}) {
		t.Errorf("self-check resource %v", got)
	}
	want := []string{
		"arn:aws:logs:*:111111111111:log-group:/aws/bedrock/invocations:*",
		"arn:aws:logs:*:111111111111:log-group:app-logs:*",
	}
	if got := find("rolecall-observability-log-events", "NamedLogGroupsRead").Resource; !slices.Equal(got, want) {
		t.Errorf("log group resources %v, want %v", got, want)
	}
	for _, p := range Policies(managementTarget()) {
		for _, s := range p.Document.Statement {
			for _, r := range s.Resource {
				if strings.Contains(r, "${") {
					t.Errorf("%s/%s: placeholder left in %q", p.Name, s.Sid, r)
				}
			}
		}
	}
}

// IAM counts policy size without whitespace: 10,240 characters for all of
// a role's inline policies together (synth measures the templates' own
// worst case, every input at its longest).
func TestPoliciesStayWellUnderIAMSizeQuota(t *testing.T) {
	target := managementTarget()
	target.CURBucket = strings.Repeat("b", 63)
	target.CURPrefix = strings.Repeat("p", 200) + "/"
	target.RoleName = strings.Repeat("r", 64)
	target.LogGroups = nil
	for range 5 {
		target.LogGroups = append(target.LogGroups, "/"+strings.Repeat("l", 120))
	}
	total := 0
	for _, p := range Policies(target) {
		n := MinifiedSize(p.Document)
		total += n
		t.Logf("%s: %d characters", p.Name, n)
	}
	if total > 10240 {
		t.Errorf("inline policies total %d characters; IAM allows 10,240 per role", total)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/permission-set.golden")

// A change to what the roles grant (the catalog, or a dataset refresh that
// adds a ce:Get* action) must come with a new Version: the vendor tells
// permission sets apart by it.
func TestVersionChangesWithTheDigest(t *testing.T) {
	const golden = "testdata/permission-set.golden"
	got := Version + " " + Digest() + "\n"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/permissions -update)", err)
	}
	wantVersion, _, _ := strings.Cut(string(want), " ")
	switch {
	case string(want) == got:
	case wantVersion == Version:
		t.Errorf("the catalog changed (digest %s) but Version is still %s: bump Version, then run go test ./internal/permissions -update", Digest(), Version)
	default:
		t.Errorf("Version is %s; record its digest with go test ./internal/permissions -update", Version)
	}
}

func TestDigestIsStableSHA256(t *testing.T) {
	d := Digest()
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(d) {
		t.Fatalf("digest %q", d)
	}
	if d != Digest() {
		t.Error("digest changes between calls")
	}
}

func TestSummaryNamesEveryModuleAndWhatReadsContents(t *testing.T) {
	with, without := Summary(true), Summary(false)
	for _, m := range Modules() {
		if !strings.Contains(with, m.Title) {
			t.Errorf("summary does not mention %s", m.Title)
		}
	}
	if strings.Contains(without, "Bedrock (") {
		t.Error("summary without Bedrock still describes the Bedrock module")
	}
	for _, want := range []string{Version, "Also readable", "Cost & Usage Report files", "trust policy", "managed policy", "No write"} {
		if !strings.Contains(with, want) {
			t.Errorf("summary lacks %q:\n%s", want, with)
		}
	}
}

// Templates add or leave out whole policies, never single statements: every
// conditional statement sits in a policy of its own, with statements of the
// same condition only.
func TestConditionalStatementsHaveTheirOwnPolicy(t *testing.T) {
	for _, m := range Modules() {
		cond := map[string]string{}
		for _, s := range m.Statements {
			c := ""
			switch {
			case s.CURHolderOnly:
				c = "management"
			case s.PerLogGroup():
				c = "log-groups"
			}
			if c != "" && s.Policy == "" {
				t.Errorf("%s/%s is granted only with %s but shares the module's policy", m.ID, s.Sid, c)
			}
			if prev, ok := cond[s.Policy]; ok && prev != c {
				t.Errorf("%s: policy %q mixes statements granted under %q and %q", m.ID, m.PolicyNameOf(s), prev, c)
			}
			cond[s.Policy] = c
		}
		if m.Optional && len(cond) > 1 {
			t.Errorf("optional module %s has conditional statements; templates cannot combine the two conditions", m.ID)
		}
	}
}
