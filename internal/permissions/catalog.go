package permissions

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rolecall/rolecall/internal/iamdata"
)

// Version names the permission set. Bump it whenever Modules changes; the
// vendor receives it with every callback, beside Digest.
const Version = "2026-12.2"

// Placeholders a statement's resources may contain. Policies fills them in
// for a concrete account; the synth package maps them to template
// parameters and pseudo parameters.
const (
	VarPartition = "${Partition}"
	VarAccountID = "${AccountId}"
	VarRoleName  = "${RoleName}"
	// VarRolePath is the role's IAM path, "/" or such as "/vendors/".
	VarRolePath  = "${RolePath}"
	VarCURBucket = "${CurBucket}"
	VarCURPrefix = "${CurPrefix}"
	// VarKMSKey is the ARN of the KMS key the CUR files are encrypted with.
	VarKMSKey = "${CurKmsKey}"
	// VarLogGroup stands for each log group named by the customer: a
	// resource containing it is repeated once per name, and a statement
	// whose resources all contain it is left out when no name is given.
	VarLogGroup = "${LogGroup}"
)

// Module is one group of grants a customer can read about and, if Optional,
// switch off.
type Module struct {
	// ID is stable and short; it names the inline policy ("rolecall-cost").
	ID string `json:"id"`
	// Title is what the summary calls the module.
	Title string `json:"title"`
	// Purpose says in one sentence what the vendor can see with it.
	Purpose string `json:"purpose"`
	// Optional modules are granted only when the customer enables them
	// (EnableBedrockAccess for the Bedrock module).
	Optional bool `json:"optional,omitempty"`
	// Statements are the grants, each with explicit actions.
	Statements []Statement `json:"statements"`
}

// Statement is one Allow statement with explicit actions and resource
// patterns that may contain the Var placeholders.
type Statement struct {
	Sid       string   `json:"sid"`
	Actions   []string `json:"actions"`
	Resources []string `json:"resources"`
	// CURHolderOnly statements are granted only to the role of the account
	// that owns the CUR bucket: the management account's, or the account
	// the customer names in CurBucketAccountId.
	CURHolderOnly bool `json:"curHolderOnly,omitempty"`
	// KMSOnly statements are granted only with a CUR KMS key.
	KMSOnly bool `json:"kmsOnly,omitempty"`
	// ViaS3 conditions the statement on kms:ViaService: the key may be
	// used only through S3 in the bucket's region.
	ViaS3 bool `json:"viaS3,omitempty"`
	// Exposes, when set, says which customer data contents these reads
	// return; the summary states it plainly.
	Exposes string `json:"exposes,omitempty"`
	// Policy names the separate inline policy a conditional statement
	// lives in (appended to the module's policy name). A statement that is
	// granted only in some accounts or configurations gets a policy of its
	// own, so templates can add or leave out a whole policy instead of
	// editing a statement list.
	Policy string `json:"policy,omitempty"`
	// ReportPrefixOnly limits s3:ListBucket to keys under the report
	// prefix (a StringLike condition on s3:prefix) whenever a prefix is
	// given; with no prefix the reports are the whole bucket.
	ReportPrefixOnly bool `json:"reportPrefixOnly,omitempty"`
	// Why says why a grant the vendor does not read data with is there
	// (the self-check's policy reads); the catalog says it to reviewers.
	Why string `json:"why,omitempty"`
}

// PolicyName is the name of the module's inline policy on the role. Policies
// are split by module to stay well under IAM's policy size quota.
func (m Module) PolicyName() string { return "rolecall-" + m.ID }

// PolicyNameOf returns the name of the inline policy that carries s.
func (m Module) PolicyNameOf(s Statement) string {
	if s.Policy == "" {
		return m.PolicyName()
	}
	return m.PolicyName() + "-" + s.Policy
}

// Actions returns every action of the module, sorted.
func (m Module) Actions() []string {
	var out []string
	for _, s := range m.Statements {
		out = append(out, s.Actions...)
	}
	sort.Strings(out)
	return out
}

// Services returns the IAM service prefixes the module grants, sorted.
func (m Module) Services() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range m.Actions() {
		svc, _, _ := strings.Cut(a, ":")
		if !seen[svc] {
			seen[svc] = true
			out = append(out, svc)
		}
	}
	sort.Strings(out)
	return out
}

// Module IDs.
const (
	ModuleCost          = "cost"
	ModuleBedrock       = "bedrock"
	ModuleObservability = "observability"
	ModuleIdentity      = "identity"
	ModuleSelfCheck     = "self-check"
)

// Modules returns the catalog. The slice is new on every call; callers may
// keep or change it.
func Modules() []Module {
	const allResources = "*"
	return []Module{
		{
			ID:      ModuleCost,
			Title:   "Cost & billing",
			Purpose: "Cost Explorer reads, CUR report definitions and CUR 2.0 data exports, the public price list, and the Cost & Usage Report files in the CUR bucket (in the account that owns it only).",
			Statements: []Statement{
				{
					Sid:       "CostExplorerRead",
					Actions:   costExplorerReads(),
					Resources: []string{allResources},
				},
				{
					Sid:       "ReportDefinitionsRead",
					Actions:   []string{"cur:DescribeReportDefinitions"},
					Resources: []string{allResources},
				},
				{
					Sid:       "DataExportsRead",
					Actions:   []string{"bcm-data-exports:GetExport", "bcm-data-exports:ListExports"},
					Resources: []string{allResources},
					Why:       "CUR 2.0 reports are data exports: the verifier finds which one delivers to the bucket and prefix",
				},
				{
					Sid: "PriceListRead",
					Actions: []string{
						"pricing:DescribeServices",
						"pricing:GetAttributeValues",
						"pricing:GetPriceListFileUrl",
						"pricing:GetProducts",
						"pricing:ListPriceLists",
					},
					Resources: []string{allResources},
				},
				{
					Sid:           "CurBucketLocation",
					Actions:       []string{"s3:GetBucketLocation"},
					Resources:     []string{"arn:" + VarPartition + ":s3:::" + VarCURBucket},
					CURHolderOnly: true,
					Policy:        "cur-bucket",
				},
				{
					Sid:              "CurReportsList",
					Actions:          []string{"s3:ListBucket"},
					Resources:        []string{"arn:" + VarPartition + ":s3:::" + VarCURBucket},
					CURHolderOnly:    true,
					Policy:           "cur-bucket",
					ReportPrefixOnly: true,
					Exposes:          "the names of the report files under the report prefix",
				},
				{
					Sid:           "CurReportsRead",
					Actions:       []string{"s3:GetObject"},
					Resources:     []string{"arn:" + VarPartition + ":s3:::" + VarCURBucket + "/" + VarCURPrefix + "*"},
					CURHolderOnly: true,
					Policy:        "cur-bucket",
					Exposes:       "the contents of the Cost & Usage Report files under the report prefix",
				},
				{
					Sid:           "CurReportsDecrypt",
					Actions:       []string{"kms:Decrypt"},
					Resources:     []string{VarKMSKey},
					CURHolderOnly: true,
					KMSOnly:       true,
					ViaS3:         true,
					Policy:        "cur-kms",
					Why:           "with SSE-KMS, reading a report file needs the key; kms:ViaService limits it to S3 in the bucket's region, so the key decrypts nothing else",
				},
			},
		},
		{
			ID:       ModuleBedrock,
			Title:    "Bedrock",
			Purpose:  "Foundation, custom and imported model metadata, the invocation-logging configuration, inference profiles and provisioned throughput. Never invokes a model.",
			Optional: true,
			Statements: []Statement{
				{
					Sid: "BedrockInventoryRead",
					Actions: []string{
						"bedrock:GetCustomModel",
						"bedrock:GetFoundationModel",
						"bedrock:GetImportedModel",
						"bedrock:GetInferenceProfile",
						"bedrock:GetModelInvocationLoggingConfiguration",
						"bedrock:GetProvisionedModelThroughput",
						"bedrock:ListCustomModels",
						"bedrock:ListFoundationModels",
						"bedrock:ListImportedModels",
						"bedrock:ListInferenceProfiles",
						"bedrock:ListProvisionedModelThroughputs",
					},
					Resources: []string{allResources},
				},
			},
		},
		{
			ID:      ModuleObservability,
			Title:   "CloudWatch, Logs & CloudTrail",
			Purpose: "Metrics, the list of log groups, log events in the log groups you name, and the CloudTrail API call history.",
			Statements: []Statement{
				{
					Sid:       "MetricsRead",
					Actions:   []string{"cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"},
					Resources: []string{allResources},
				},
				{
					Sid:       "LogGroupsList",
					Actions:   []string{"logs:DescribeLogGroups"},
					Resources: []string{allResources},
				},
				{
					Sid:       "NamedLogGroupsRead",
					Actions:   []string{"logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"},
					Resources: []string{"arn:" + VarPartition + ":logs:*:" + VarAccountID + ":log-group:" + VarLogGroup + ":*"},
					Policy:    "log-events",
					Exposes:   "log events in the log groups you named (Bedrock invocation logs contain prompts and completions)",
				},
				{
					Sid:       "ApiActivityRead",
					Actions:   []string{"cloudtrail:DescribeTrails", "cloudtrail:LookupEvents"},
					Resources: []string{allResources},
				},
			},
		},
		{
			ID:      ModuleIdentity,
			Title:   "Identity inventory",
			Purpose: "Lists IAM roles and users and reads the Organizations hierarchy.",
			Statements: []Statement{
				{
					Sid:       "IdentityList",
					Actions:   []string{"iam:ListRoles", "iam:ListUsers"},
					Resources: []string{allResources},
					Exposes:   "every role's trust policy (iam:ListRoles returns who may assume each role); no permission policy of any role or user",
				},
				{
					Sid: "OrganizationRead",
					Actions: []string{
						"organizations:DescribeAccount",
						"organizations:DescribeOrganization",
						"organizations:DescribeOrganizationalUnit",
						"organizations:ListAccounts",
						"organizations:ListAccountsForParent",
						"organizations:ListOrganizationalUnitsForParent",
						"organizations:ListParents",
						"organizations:ListRoots",
					},
					Resources: []string{allResources},
				},
			},
		},
		{
			ID:      ModuleSelfCheck,
			Title:   "Self-check",
			Purpose: "Lets the role read its own policies and simulate its own permissions, so anyone who can assume it can prove it is read-only.",
			Statements: []Statement{
				{
					Sid: "OwnPoliciesRead",
					Actions: []string{
						"iam:GetRole",
						"iam:GetRolePolicy",
						"iam:ListAttachedRolePolicies",
						"iam:ListRolePolicies",
						"iam:SimulatePrincipalPolicy",
					},
					Resources: []string{"arn:" + VarPartition + ":iam::" + VarAccountID + ":role" + VarRolePath + VarRoleName},
					Exposes:   "the role's own trust policy, path, permissions boundary and tags",
					Why:       "the verifier reads the role itself (its boundary, path and tags are as the stack set them), lists its inline and attached policies, reads each inline one, and asks IAM's simulator about the role; IAM lets these name this one role",
				},
				{
					Sid:       "AttachedPoliciesRead",
					Actions:   []string{"iam:GetPolicy", "iam:GetPolicyVersion"},
					Resources: []string{"arn:" + VarPartition + ":iam::" + VarAccountID + ":policy/*", "arn:" + VarPartition + ":iam::aws:policy/*"},
					Exposes:   "the documents of every customer-managed policy in this account and of AWS managed policies",
					Why:       "to prove write safety the verifier must read every managed policy attached to the role; IAM has no condition that limits these reads to the policies attached to one role, so the narrowest grant is this account's policies and AWS's own",
				},
			},
		},
	}
}

// costExplorerExtra are the Cost Explorer reads that are not Get*: the seed
// grants ce:Get*, and rolecall lists these too for cost categories and
// allocation tags.
var costExplorerExtra = []string{
	"ce:DescribeCostCategoryDefinition",
	"ce:ListCostAllocationTags",
	"ce:ListCostCategoryDefinitions",
}

// costExplorerReads returns every Read-level ce:Get* action of the pinned
// dataset (the seed's "ce:Get*", made explicit so it never grows with a
// new action unseen) and costExplorerExtra, sorted. A dataset refresh
// keeps the grant whole.
func costExplorerReads() []string { return slices.Clone(costExplorerList()) }

var costExplorerList = sync.OnceValue(func() []string {
	out := slices.Clone(costExplorerExtra)
	for _, a := range iamdata.Embedded().Actions("ce", nil) {
		if a.AccessLevel == iamdata.Read && strings.HasPrefix(a.Name, "Get") {
			out = append(out, a.String())
		}
	}
	slices.Sort(out)
	return out
})

// Digest returns "sha256:<hex>" of the catalog's canonical JSON. Two builds
// with the same Digest grant exactly the same permissions.
func Digest() string {
	b, err := json.Marshal(struct {
		Version string   `json:"version"`
		Modules []Module `json:"modules"`
	}{Version, Modules()})
	if err != nil {
		panic(err) // plain structs of strings always marshal
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
