package permissions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Document is an IAM policy document.
type Document struct {
	Version   string     `json:"Version"`
	Statement Statements `json:"Statement"`
}

// DocStatement is one statement of a Document. Action, Resource and their
// Not forms accept both a string and a list when parsed.
type DocStatement struct {
	Sid         string                           `json:"Sid,omitempty"`
	Effect      string                           `json:"Effect"`
	Principal   json.RawMessage                  `json:"Principal,omitempty"`
	Action      StringList                       `json:"Action,omitempty"`
	NotAction   StringList                       `json:"NotAction,omitempty"`
	Resource    StringList                       `json:"Resource,omitempty"`
	NotResource StringList                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string]StringList `json:"Condition,omitempty"`
}

// Statements is a policy's statement list; parsing also accepts the single
// statement object IAM allows.
type Statements []DocStatement

// UnmarshalJSON accepts {...} and [{...}, ...].
func (s *Statements) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one DocStatement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Statements{one}
		return nil
	}
	var many []DocStatement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// StringList is a policy element that may be written as one string or a list.
type StringList []string

// UnmarshalJSON accepts "x" and ["x", "y"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = ss
	return nil
}

// ParseDocument reads a policy document as IAM returns it (after URL
// decoding) or as a template carries it.
func ParseDocument(b []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("policy document: %w", err)
	}
	if len(d.Statement) == 0 {
		return Document{}, errors.New("policy document: no Statement")
	}
	return d, nil
}

// Target describes the role a policy is rendered for.
type Target struct {
	Partition string // "aws" unless in China or GovCloud
	AccountID string
	RoleName  string
	// RolePath is the role's IAM path; empty means "/".
	RolePath string
	// CURHolder is true for the role of the account that owns the CUR
	// bucket, which alone gets the CUR statements.
	CURHolder bool
	CURBucket string
	CURPrefix string
	// CURRegion is the bucket's region, where kms:ViaService lets the key
	// be used; CURKMSKey the key, empty for SSE-S3.
	CURRegion string
	CURKMSKey string
	// Bedrock switches the optional Bedrock module on.
	Bedrock bool
	// LogGroups are the log groups whose events the role may read.
	LogGroups []string
}

// Policy is one named inline policy.
type Policy struct {
	Name     string
	Document Document
}

// Granted returns the modules and statements that apply to the target: the
// Bedrock module only when enabled, CUR statements only for the account
// that owns the bucket, log-group statements only when log groups are
// named, and nothing of a service AWS does not offer in the target's
// partition.
func Granted(t Target) []Module {
	var out []Module
	for _, m := range Modules() {
		if m.ID == ModuleBedrock && !t.Bedrock {
			continue
		}
		var kept []Statement
		for _, s := range m.Statements {
			if !availableIn(s, t.Partition) {
				continue
			}
			if s.CURHolderOnly && !t.CURHolder {
				continue
			}
			if s.KMSOnly && t.CURKMSKey == "" {
				continue
			}
			if perLogGroup(s) && len(t.LogGroups) == 0 {
				continue
			}
			kept = append(kept, s)
		}
		if len(kept) > 0 {
			m.Statements = kept
			out = append(out, m)
		}
	}
	return out
}

// GrantedServices returns the service prefixes granted to the target, sorted.
func GrantedServices(t Target) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range Granted(t) {
		for _, s := range m.Services() {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Policies renders the target's inline policies: one per granted module,
// plus one per group of conditional statements (see Statement.Policy).
func Policies(t Target) []Policy {
	partition := t.Partition
	if partition == "" {
		partition = "aws"
	}
	path := t.RolePath
	if path == "" {
		path = "/"
	}
	r := strings.NewReplacer(
		VarPartition, partition,
		VarAccountID, t.AccountID,
		VarRoleName, t.RoleName,
		VarRolePath, path,
		VarCURBucket, t.CURBucket,
		VarCURPrefix, t.CURPrefix,
		VarKMSKey, t.CURKMSKey,
	)
	var out []Policy
	for _, m := range Granted(t) {
		index := map[string]int{}
		for _, s := range m.Statements {
			var res []string
			for _, pattern := range s.Resources {
				if strings.Contains(pattern, VarLogGroup) {
					for _, g := range t.LogGroups {
						res = append(res, r.Replace(strings.ReplaceAll(pattern, VarLogGroup, g)))
					}
					continue
				}
				res = append(res, r.Replace(pattern))
			}
			name := m.PolicyNameOf(s)
			i, ok := index[name]
			if !ok {
				i = len(out)
				index[name] = i
				out = append(out, Policy{Name: name, Document: Document{Version: "2012-10-17"}})
			}
			st := DocStatement{
				Sid:      s.Sid,
				Effect:   "Allow",
				Action:   append(StringList(nil), s.Actions...),
				Resource: res,
			}
			if s.ReportPrefixOnly && t.CURPrefix != "" {
				st.Condition = ReportPrefixCondition(t.CURPrefix)
			}
			if s.ViaS3 {
				st.Condition = ViaS3Condition(t.CURRegion, partitionSuffix(partition))
			}
			out[i].Document.Statement = append(out[i].Document.Statement, st)
		}
	}
	return out
}

// ViaS3Condition lets a KMS key be used only through S3 in one region.
func ViaS3Condition(region, urlSuffix string) map[string]map[string]StringList {
	return map[string]map[string]StringList{"StringEquals": {"kms:ViaService": {"s3." + region + "." + urlSuffix}}}
}

// partitionSuffix is the domain of a partition's service endpoints.
func partitionSuffix(partition string) string {
	if partition == "aws-cn" {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// ReportPrefixCondition limits s3:ListBucket to keys under prefix.
func ReportPrefixCondition(prefix string) map[string]map[string]StringList {
	return map[string]map[string]StringList{"StringLike": {"s3:prefix": {prefix + "*"}}}
}

func perLogGroup(s Statement) bool {
	for _, r := range s.Resources {
		if !strings.Contains(r, VarLogGroup) {
			return false
		}
	}
	return len(s.Resources) > 0
}

// PerLogGroup reports whether a statement exists only for named log groups.
func (s Statement) PerLogGroup() bool { return perLogGroup(s) }

// MinifiedSize returns the length IAM counts against its policy size quota:
// the document without whitespace.
func MinifiedSize(d Document) int {
	b, err := json.Marshal(d)
	if err != nil {
		return 0
	}
	return len(b)
}
