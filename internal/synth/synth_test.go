package synth

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/cfnyaml"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const vendorsDir = "../../vendors"

func profiles(t *testing.T) []*profile.Profile {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(vendorsDir, "*.yaml"))
	if err != nil || len(matches) < 2 {
		t.Fatalf("want both seed brands in %s, found %v", vendorsDir, matches)
	}
	var out []*profile.Profile
	for _, m := range matches {
		p, err := profile.Load(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func buildFiles(t *testing.T, p *profile.Profile) map[string][]byte {
	t.Helper()
	files, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		key := f.Path
		if f.Block != "" {
			key += "#" + f.Block
		}
		out[key] = f.Data
	}
	return out
}

// Golden files pin the whole output byte for byte; regenerate with
// go test ./internal/synth -update after an intended change.
func TestTemplatesMatchGoldenFiles(t *testing.T) {
	for _, p := range profiles(t) {
		for path, data := range buildFiles(t, p) {
			golden := filepath.Join("testdata", p.ID+"."+strings.NewReplacer("/", "-", "#", "-").Replace(strings.TrimSuffix(path, ".yaml"))+".golden.yaml")
			t.Run(golden, func(t *testing.T) {
				if *update {
					if err := os.WriteFile(golden, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/synth -update)", err)
				}
				if !bytes.Equal(data, want) {
					t.Errorf("%s differs from %s; if the change is intended, run go test ./internal/synth -update", path, golden)
				}
			})
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	p := profiles(t)[0]
	a, b := buildFiles(t, p), buildFiles(t, p)
	for path := range a {
		if !bytes.Equal(a[path], b[path]) {
			t.Errorf("%s differs between two builds", path)
		}
	}
}

// Both brands build from the same code: once each brand's own values are
// swapped for a neutral token, the templates are identical.
func TestBrandsDifferOnlyInProfileFields(t *testing.T) {
	ps := profiles(t)
	neutral := func(p *profile.Profile, data []byte) string {
		s := string(data)
		for _, pair := range [][2]string{
			{p.PrincipalARN, "<principal>"},
			{p.Callback.URL, "<callback-url>"},
			{p.Callback.Audience, "<audience>"},
			{p.RoleName, "<role>"},
			{p.Name, "<Brand>"},
			{p.ID, "<brand>"},
		} {
			s = strings.ReplaceAll(s, pair[0], pair[1])
		}
		return s
	}
	first := buildFiles(t, ps[0])
	for _, p := range ps[1:] {
		other := buildFiles(t, p)
		for path, data := range first {
			a, b := neutral(ps[0], data), neutral(p, other[path])
			if a != b {
				t.Errorf("%s: %s and %s differ beyond their profile fields", path, ps[0].ID, p.ID)
			}
			// Generated doc blocks come from the catalog and the code, the same for
			// every brand; every template names its brand.
			if bytes.Equal(data, other[path]) && !strings.Contains(path, "#") {
				t.Errorf("%s: %s and %s are identical; the brand did not reach the template", path, ps[0].ID, p.ID)
			}
		}
	}
}

// No Go source names a vendor: every brand comes from vendors/.
func TestOnlyProfilesNameAVendor(t *testing.T) {
	var brands []string
	for _, p := range profiles(t) {
		brands = append(brands, strings.ToLower(p.ID), strings.ToLower(p.Name), strings.ToLower(p.RoleName))
	}
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "../.." || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lower := strings.ToLower(string(src))
		for _, b := range brands {
			if strings.Contains(lower, b) {
				t.Errorf("%s names the vendor %q; brand values belong in vendors/*.yaml", path, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type tpl struct {
	Transform  any                       `yaml:"Transform"`
	Metadata   map[string]any            `yaml:"Metadata"`
	Parameters map[string]map[string]any `yaml:"Parameters"`
	Resources  map[string]struct {
		Type       string         `yaml:"Type"`
		Condition  string         `yaml:"Condition"`
		Properties map[string]any `yaml:"Properties"`
		Metadata   map[string]any `yaml:"Metadata"`
	} `yaml:"Resources"`
	Outputs map[string]any `yaml:"Outputs"`
}

func parse(t *testing.T, data []byte) tpl {
	t.Helper()
	var out tpl
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManagementTemplateShape(t *testing.T) {
	p := profiles(t)[0]
	files := buildFiles(t, p)
	m := parse(t, files[ManagementTemplatePath])

	// Plain CloudFormation: a Launch Stack link then needs no
	// CAPABILITY_AUTO_EXPAND, and nothing is expanded out of sight.
	if m.Transform != nil {
		t.Errorf("Transform = %v, want none", m.Transform)
	}
	wantTypes := map[string]string{
		FunctionLogicalID:       "AWS::Lambda::Function",
		DeadLetterLogicalID:     "AWS::SQS::Queue",
		InvokeConfigLogicalID:   "AWS::Lambda::EventInvokeConfig",
		StackSetPolicyLogicalID: "AWS::IAM::Policy",
		FunctionRoleLogicalID:   "AWS::IAM::Role",
		PreflightLogicalID:      params.PreflightType,
		ManagementRoleLogicalID: "AWS::CloudFormation::Stack",
		StackSetLogicalID:       "AWS::CloudFormation::StackSet",
		VerificationLogicalID:   params.VerificationType,
		EventRuleLogicalID:      "AWS::Events::Rule",
		SecretLogicalID:         "AWS::SecretsManager::Secret",
	}
	for id, typ := range wantTypes {
		if got := m.Resources[id].Type; got != typ {
			t.Errorf("resource %s has type %q, want %q", id, got, typ)
		}
	}

	fn := m.Resources[FunctionLogicalID].Properties
	for k, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": FunctionTimeoutSeconds} {
		if fn[k] != want {
			t.Errorf("function %s = %v, want %v", k, fn[k], want)
		}
	}
	if arch, _ := fn["Architectures"].([]any); len(arch) != 1 || arch[0] != "arm64" {
		t.Errorf("function Architectures = %v, want [arm64]", fn["Architectures"])
	}
	if lc, _ := fn["LoggingConfig"].(map[string]any); lc["LogFormat"] != "JSON" {
		t.Errorf("function LoggingConfig = %v, want LogFormat JSON", fn["LoggingConfig"])
	}
	if m.Resources[FunctionLogicalID].Metadata["BuildMethod"] != "makefile" || fn["Code"] != FunctionCodeDir {
		t.Errorf("function Metadata = %v, Code %v; want BuildMethod makefile from %s", m.Resources[FunctionLogicalID].Metadata, fn["Code"], FunctionCodeDir)
	}
	// Lambda bounds the whole environment at 4 KB: wiring only, and
	// GOGC=off for the package initialisation (main sets the pacing).
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	for k := range vars {
		if !strings.HasPrefix(k, "ROLECALL_") && k != params.EnvGOGC {
			t.Errorf("environment variable %s", k)
		}
	}
	if vars[params.EnvGOGC] != "off" {
		t.Errorf("environment %s = %v, want off", params.EnvGOGC, vars[params.EnvGOGC])
	}
	for _, prm := range params.All() {
		if _, ok := vars[prm.Name]; ok {
			t.Errorf("customer parameter %s is in the environment", prm.Name)
		}
	}

	for _, id := range []string{PreflightLogicalID, VerificationLogicalID} {
		st, _ := m.Resources[id].Properties["ServiceTimeout"].(int)
		if st <= FunctionTimeoutSeconds || st > FunctionTimeoutSeconds+120 {
			t.Errorf("%s ServiceTimeout = %v; want a little above the function timeout %d", id, m.Resources[id].Properties["ServiceTimeout"], FunctionTimeoutSeconds)
		}
	}

	ss := m.Resources[StackSetLogicalID]
	if ss.Properties["PermissionModel"] != "SERVICE_MANAGED" || ss.Condition != condDeployToOrg {
		t.Errorf("StackSet PermissionModel %v, Condition %q", ss.Properties["PermissionModel"], ss.Condition)
	}
	if ad, _ := ss.Properties["AutoDeployment"].(map[string]any); ad["Enabled"] != true {
		t.Errorf("StackSet AutoDeployment = %v, want Enabled", ss.Properties["AutoDeployment"])
	}
	// The role template, as compact JSON: the same document as the YAML
	// file the nested stack reads.
	body, _ := ss.Properties["TemplateBody"].(string)
	if !json.Valid([]byte(body)) {
		t.Fatal("the StackSet's TemplateBody is not JSON")
	}
	// JSON is YAML: read both with the same decoder, which writes numbers
	// as CloudFormation reads them.
	inline, err := cfnyaml.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := cfnyaml.Decode(files[RoleTemplatePath])
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(inline)
	b, _ := json.Marshal(fromFile)
	if !bytes.Equal(a, b) {
		t.Error("the StackSet's TemplateBody is not the role template written to templates/")
	}
	if strings.Contains(body, "\n  ") {
		t.Error("the StackSet's TemplateBody is not compact")
	}
	prefs, _ := ss.Properties["OperationPreferences"].(map[string]any)
	for k, want := range map[string]any{"ConcurrencyMode": "SOFT_FAILURE_TOLERANCE", "MaxConcurrentPercentage": 100, "FailureTolerancePercentage": 100, "RegionConcurrencyType": "PARALLEL"} {
		if prefs[k] != want {
			t.Errorf("StackSet OperationPreferences %s = %v, want %v", k, prefs[k], want)
		}
	}
	// The instance-event path, with its dead-letter queue, exists only
	// where the events land: a SELF stack with a StackSet.
	for _, id := range []string{EventRuleLogicalID, EventPermissionLogicalID, DeadLetterLogicalID, DeadLetterPolicyLogicalID, InvokeConfigLogicalID} {
		if c := m.Resources[id].Condition; c != condEventPath {
			t.Errorf("%s has condition %q, want %s", id, c, condEventPath)
		}
	}
	target, _ := m.Resources[EventRuleLogicalID].Properties["Targets"].([]any)
	if len(target) != 1 || target[0].(map[string]any)["DeadLetterConfig"] == nil || target[0].(map[string]any)["RetryPolicy"] == nil {
		t.Errorf("the rule's target has no retry policy or dead-letter queue: %v", target)
	}
	if m.Resources[ManagementRoleLogicalID].Condition != condManagementRole {
		t.Errorf("the management role is created with condition %q, want %s", m.Resources[ManagementRoleLogicalID].Condition, condManagementRole)
	}

	for _, out := range []string{OutputRoleARN, OutputGrantedPermissions, OutputVerificationStatus, OutputStackSetID} {
		if _, ok := m.Outputs[out]; !ok {
			t.Errorf("output %s missing", out)
		}
	}
	if !strings.Contains(string(files[ManagementTemplatePath]), permissions.SummaryHeader()) {
		t.Error("GrantedPermissions does not carry the catalog's summary")
	}
}

func TestEveryParameterIsDescribedConstrainedAndGrouped(t *testing.T) {
	m := parse(t, buildFiles(t, profiles(t)[0])[ManagementTemplatePath])
	iface, _ := m.Metadata["AWS::CloudFormation::Interface"].(map[string]any)
	grouped := map[string]bool{}
	groups, _ := iface["ParameterGroups"].([]any)
	for _, g := range groups {
		for _, name := range g.(map[string]any)["Parameters"].([]any) {
			grouped[name.(string)] = true
		}
	}
	for _, p := range params.All() {
		got, ok := m.Parameters[p.Name]
		if !ok {
			t.Errorf("parameter %s missing", p.Name)
			continue
		}
		if got["Description"] == nil || got["ConstraintDescription"] == nil {
			t.Errorf("parameter %s lacks a description or constraint description", p.Name)
		}
		if got["AllowedPattern"] == nil && got["AllowedValues"] == nil {
			t.Errorf("parameter %s has neither AllowedPattern nor AllowedValues", p.Name)
		}
		if _, hasDefault := got["Default"]; hasDefault == p.Required {
			t.Errorf("parameter %s: Required %v but Default present %v", p.Name, p.Required, hasDefault)
		}
		if p.NoEcho && got["NoEcho"] != true {
			t.Errorf("parameter %s must be NoEcho", p.Name)
		}
		if !grouped[p.Name] {
			t.Errorf("parameter %s is in no console parameter group", p.Name)
		}
	}
}

func TestRoleTemplateIsPlainCloudFormation(t *testing.T) {
	r := parse(t, buildFiles(t, profiles(t)[0])[RoleTemplatePath])
	if r.Transform != nil {
		t.Errorf("the role template has Transform %v; a service-managed StackSet refuses transforms", r.Transform)
	}
	for id, res := range r.Resources {
		if strings.HasPrefix(res.Type, "AWS::Serverless") {
			t.Errorf("resource %s is %s", id, res.Type)
		}
	}
}

// A raw {"Ref": X} map in a property is resolved by goformation at marshal
// time, and a parameter without a default becomes null: no null may reach
// a template.
func TestNoIntrinsicCollapsedToNull(t *testing.T) {
	for _, p := range profiles(t) {
		for path, data := range buildFiles(t, p) {
			if !strings.HasSuffix(path, ".yaml") {
				continue // the Markdown pages carry no intrinsics
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			var walk func(n *yaml.Node)
			walk = func(n *yaml.Node) {
				if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
					t.Errorf("%s/%s: null at line %d", p.ID, path, n.Line)
				}
				for _, c := range n.Content {
					walk(c)
				}
			}
			walk(&doc)
		}
	}
}

// A published release references the vendor's S3 objects instead of local
// paths, and is otherwise the same stack.
func TestPublishedTemplatesReferenceTheRelease(t *testing.T) {
	p := profiles(t)[0]
	a := Artifacts{Region: "eu-west-1", Bucket: "vendor-onboarding-eu-west-1", Prefix: "rolecall/abc123"}
	files, err := BuildPublished(p, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d files, want the two templates", len(files))
	}
	m := parse(t, files[0].Data)
	code, _ := m.Resources[FunctionLogicalID].Properties["Code"].(map[string]any)
	if code["S3Bucket"] != a.Bucket || code["S3Key"] != "rolecall/abc123/function.zip" {
		t.Errorf("Code = %v", m.Resources[FunctionLogicalID].Properties["Code"])
	}
	if md := m.Resources[FunctionLogicalID].Metadata; md["BuildMethod"] != nil {
		t.Errorf("a published function has build metadata %v", md)
	}
	want := "https://vendor-onboarding-eu-west-1.s3.eu-west-1.amazonaws.com/rolecall/abc123/templates/member-role.yaml"
	if got := m.Resources[ManagementRoleLogicalID].Properties["TemplateURL"]; got != want {
		t.Errorf("TemplateURL = %v, want %s", got, want)
	}
	local := buildFiles(t, p)
	if !bytes.Equal(files[1].Data, local[RoleTemplatePath]) {
		t.Error("the published role template differs from the local one")
	}
}

// Every policy and template fits AWS's quotas whatever the customer enters,
// for both brands; a profile that would not fit is refused at synth.
func TestWorstCaseFitsEveryQuota(t *testing.T) {
	for _, p := range profiles(t) {
		files, err := Build(p)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := Quotas(files)
		if err != nil {
			t.Fatal(err)
		}
		whats := map[string]bool{}
		for _, q := range qs {
			whats[q.What] = true
			if q.Over() {
				t.Errorf("%s: %s", p.ID, q)
			}
		}
		for _, want := range []string{
			"templates/member-role.yaml: Role trust policy",
			"templates/member-role.yaml: Role inline policies together",
			"template.yaml: OnboardingFunctionRole inline policies together",
			"MemberRoleStackSet TemplateBody (the role template, inline)",
			"parameter LogGroupNames at its longest",
		} {
			if !whats[want] {
				t.Errorf("%s: no quota %q computed", p.ID, want)
			}
		}
	}
	long := *profiles(t)[0]
	long.PrincipalARN = "arn:aws:iam::730335468052:role/" + strings.Repeat("path/", 60) + "Ingestion"
	_, err := Build(&long)
	if err == nil || !strings.Contains(err.Error(), "Role trust policy") || !strings.Contains(err.Error(), "of 2048 characters") {
		t.Fatalf("Build with a 330-character principal: %v, want the trust-policy quota refused", err)
	}
}

// A release for GovCloud or China trusts the vendor's principal of that
// partition, leaves out what AWS does not offer there (Cost Explorer, CUR
// definitions, Data Exports and the price list in GovCloud; Bedrock and
// Data Exports in China), and names its artifacts at that partition's S3
// domain.
func TestPartitionTemplates(t *testing.T) {
	p := *profiles(t)[0]
	p.Partitions = map[string]profile.Partition{
		"aws-us-gov": {PrincipalARN: "arn:aws-us-gov:iam::123456789012:role/Ingest", Regions: []string{"us-gov-west-1"}},
		"aws-cn":     {PrincipalARN: "arn:aws-cn:iam::123456789012:role/Ingest", Regions: []string{"cn-north-1"}},
	}
	for _, tt := range []struct {
		region, principal, domain string
		absent, present           []string
	}{
		{"us-gov-west-1", "arn:aws-us-gov:iam::123456789012:role/Ingest", "amazonaws.com", []string{"ce:GetCostAndUsage", "cur:DescribeReportDefinitions", "bcm-data-exports:", "pricing:"}, []string{"bedrock:", "s3:GetObject", "cloudtrail:LookupEvents"}},
		{"cn-north-1", "arn:aws-cn:iam::123456789012:role/Ingest", "amazonaws.com.cn", []string{"bedrock:", "bcm-data-exports:"}, []string{"ce:GetCostAndUsage", "cur:DescribeReportDefinitions", "pricing:"}},
	} {
		t.Run(tt.region, func(t *testing.T) {
			a := Artifacts{Region: tt.region, Bucket: "vendor-onboarding-" + tt.region, Prefix: "rolecall/abc123abc123"}
			files, err := BuildPublished(&p, a)
			if err != nil {
				t.Fatal(err)
			}
			role := string(files[1].Data)
			if !strings.Contains(role, tt.principal) || strings.Contains(role, p.PrincipalARN) {
				t.Errorf("the role template does not trust %s alone", tt.principal)
			}
			for _, s := range tt.absent {
				if strings.Contains(role, s) {
					t.Errorf("%s is granted in %s", s, tt.region)
				}
			}
			for _, s := range tt.present {
				if !strings.Contains(role, s) {
					t.Errorf("%s is missing in %s", s, tt.region)
				}
			}
			if want := ".s3." + tt.region + "." + tt.domain + "/rolecall/abc123abc123/"; !strings.Contains(string(files[0].Data), want) {
				t.Errorf("the management template does not name its artifacts at %s", want)
			}
		})
	}
	p.Partitions = nil
	if _, err := BuildPublished(&p, Artifacts{Region: "us-gov-west-1", Bucket: "b-us-gov-west-1", Prefix: "rolecall/x"}); err == nil {
		t.Error("a release for a partition the profile does not enable")
	}
}

// Write leaves a file whose bytes are already right untouched, so its
// modification time, and every build and test cache keyed on it, survive a
// make synth that changes nothing; a changed file is written.
func TestWriteLeavesUnchangedFilesAlone(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Path: "same.yaml", Data: []byte("a: 1\n")}, {Path: "sub/changed.yaml", Data: []byte("b: 2\n")}}
	if wrote, err := Write(dir, files); err != nil || len(wrote) != 2 {
		t.Fatalf("first Write wrote %v, %v; want both files", wrote, err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, f := range files {
		if err := os.Chtimes(filepath.Join(dir, f.Path), old, old); err != nil {
			t.Fatal(err)
		}
	}
	files[1].Data = []byte("b: 3\n")
	wrote, err := Write(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 1 || wrote[0] != "sub/changed.yaml" {
		t.Errorf("second Write wrote %v, want only sub/changed.yaml", wrote)
	}
	st, err := os.Stat(filepath.Join(dir, "same.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(old) {
		t.Errorf("same.yaml was rewritten: modified %v, want %v", st.ModTime(), old)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "sub/changed.yaml")); string(got) != "b: 3\n" {
		t.Errorf("sub/changed.yaml holds %q, want the new bytes", got)
	}
}
