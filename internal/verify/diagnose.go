package verify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rolecall/rolecall/internal/permissions"
)

// Diagnosis codes. They are stable: the vendor's backend and scripts may
// match on them.
const (
	DiagnosisInvalidRole         = "invalid_role"
	DiagnosisExternalIDMismatch  = "external_id_mismatch"
	DiagnosisAssumeRoleFailed    = "assume_role_failed"
	DiagnosisPermissionGap       = "permission_gap"
	DiagnosisBlockedOutside      = "blocked_outside_role"
	DiagnosisProbeErrors         = "probe_errors"
	DiagnosisWriteAccess         = "write_access"
	DiagnosisWriteSafetyUnproven = "write_safety_unproven"
	DiagnosisCURBucketMissing    = "cur_bucket_missing"
	DiagnosisCURPrefixEmpty      = "cur_prefix_empty"
	DiagnosisCURBucketRefused    = "cur_bucket_refused"
	DiagnosisCURReportElsewhere  = "cur_report_elsewhere"
	DiagnosisCURNoReport         = "cur_no_report"
	DiagnosisCURKMSRefused       = "cur_kms_refused"
	DiagnosisCURKMSKey           = "cur_kms_key_differs"
	DiagnosisRoleSettings        = "role_settings_differ"
	DiagnosisBedrockLoggingOff   = "bedrock_logging_off"
	DiagnosisCostExplorerMember  = "ce_member_access"
	// DiagnosisStackInstanceFailed is not made by the engine: callers that
	// discover roles through a StackSet report a failed instance with it
	// (see Unverified).
	DiagnosisStackInstanceFailed = "stack_instance_failed"
	// DiagnosisManagementNotCovered is made by a delegated
	// administrator's onboarding for the management account whose role
	// it could not assume.
	DiagnosisManagementNotCovered = "management_account_not_covered"

	// NoteBedrockDisabled is a note, not a problem.
	NoteBedrockDisabled = "bedrock_disabled"
	// NoteCURLegacy and NoteCURExport say what delivers the reports the
	// vendor reads: a legacy Cost & Usage Report or a CUR 2.0 export.
	NoteCURLegacy = "cur_legacy_report"
	NoteCURExport = "cur_data_export"
)

// DiagnosisInfo explains a diagnosis code in plain words, for help texts.
type DiagnosisInfo struct {
	Code    string
	Note    bool
	Explain string
}

// DiagnosisCodes lists every diagnosis and note the engine (or a caller,
// for stack_instance_failed) can report.
func DiagnosisCodes() []DiagnosisInfo {
	return []DiagnosisInfo{
		{Code: DiagnosisExternalIDMismatch, Explain: "AWS refused AssumeRole with your external ID, also after waiting for IAM to propagate a new role: the external ID differs from the one the role trusts, or the role's trust policy does not name the identity running the check. Confirm the external ID your vendor gave you."},
		{Code: DiagnosisAssumeRoleFailed, Explain: "AssumeRole failed for another reason (credentials, network, throttling); nothing about the role is known."},
		{Code: DiagnosisInvalidRole, Explain: "The role's ARN, external ID, regions or CUR settings are malformed; nothing was sent to AWS."},
		{Code: DiagnosisPermissionGap, Explain: "A call the vendor needs was denied, and the role's own policies do not allow it: a rolecall policy is missing or was changed. Update the onboarding stack so CloudFormation restores it."},
		{Code: DiagnosisBlockedOutside, Explain: "A call was denied although the role's own policies allow it: a service control policy, a permissions boundary or a resource policy blocks it."},
		{Code: DiagnosisProbeErrors, Explain: "Some calls failed for reasons other than permissions (throttling after retries, AWS errors, network); they prove nothing either way. Run verify again."},
		{Code: DiagnosisWriteAccess, Explain: "The role can change something: a policy that allows writes was added to it. Remove that policy; rolecall's own policies are read-only."},
		{Code: DiagnosisWriteSafetyUnproven, Explain: "The role's write safety could not be established: one of its policies could not be read (a Deny, a service control policy or a permissions boundary refuses the self-check reads) or evaluated, or IAM's policy simulator was refused. Absence of proof is not proof: the account is unverifiable until the self-check works again. The message names each read that was refused and AWS's own words about it."},
		{Code: DiagnosisCURBucketMissing, Explain: "The CUR bucket does not exist (NoSuchBucket): the bucket name given to the stack is wrong."},
		{Code: DiagnosisCURPrefixEmpty, Explain: "The CUR bucket has no object under the report prefix: the prefix is wrong, or AWS has not delivered the first report yet (it takes up to 24 hours)."},
		{Code: DiagnosisCURBucketRefused, Explain: "S3 refused to list the CUR bucket although the role's policy allows it: the bucket most likely belongs to another account (rolecall reads only a bucket this account owns), or a bucket policy denies the role. verify cannot tell these apart."},
		{Code: DiagnosisCURReportElsewhere, Explain: "Neither a legacy Cost & Usage Report nor a CUR 2.0 data export of the management account delivers under the bucket and prefix given to the stack; they deliver somewhere else, which the message names."},
		{Code: DiagnosisCURNoReport, Explain: "The management account has neither a legacy Cost & Usage Report nor a CUR 2.0 data export: create one (Billing console, Data Exports) that delivers to the bucket and prefix given to the stack."},
		{Code: DiagnosisCURKMSRefused, Explain: "S3 refused to read a report file because the role may not decrypt it with its KMS key: give the stack the key's ARN (CurKmsKeyArn), and check that the key policy lets the account's IAM policies grant its use."},
		{Code: DiagnosisCURKMSKey, Explain: "The report files are encrypted with another KMS key than the one given to the stack (CurKmsKeyArn): the read worked through some other grant, but the stack's own grant is for the wrong key. Give the stack the key the files use."},
		{Code: DiagnosisRoleSettings, Explain: "The role differs from what the stack set: its path, permissions boundary or tags were changed after onboarding. Update the stack so CloudFormation restores them. The account counts as having gaps."},
		{Code: NoteCURLegacy, Note: true, Explain: "The reports under the CUR bucket and prefix come from a legacy Cost & Usage Report definition, which the message names."},
		{Code: NoteCURExport, Note: true, Explain: "The reports under the CUR bucket and prefix come from a CUR 2.0 data export, which the message names."},
		{Code: DiagnosisBedrockLoggingOff, Explain: "Bedrock model invocation logging is off in a region, so the vendor sees no per-invocation data there. Turn it on in the Bedrock console (Settings) if you want that data analysed."},
		{Code: DiagnosisCostExplorerMember, Explain: "Cost Explorer refused a member account's role although its policy allows the call: the management account has not enabled Cost Explorer access for member accounts. The vendor reads organization-wide costs through the management account, so this matters only if you want per-account access."},
		{Code: DiagnosisManagementNotCovered, Explain: "With StackSetCallAs DELEGATED_ADMIN, the management account gets its role from a second stack of the same template deployed there (StackSetCallAs SELF, DeployToOrganization false); until that stack exists and lists the delegated administrator stack's VerifierRoleArn among its verifiers, the management account is not covered."},
		{Code: DiagnosisStackInstanceFailed, Explain: "The StackSet could not create the role in this account; the reason comes from CloudFormation."},
		{Code: NoteBedrockDisabled, Note: true, Explain: "The optional Bedrock module is off (EnableBedrockAccess=false), so Bedrock was not checked. Not a problem; turn it on if you want Bedrock usage analysed."},
	}
}

// diagnose explains the report's problems in plain words.
func (v *run) diagnose() {
	var gaps, blocked, errs []string
	gapPolicies := map[string][]string{} // policy -> actions denied
	for _, p := range v.rep.Probes {
		switch p.Outcome {
		case OutcomeError:
			errs = append(errs, p.Name()+" in "+p.Region)
		case OutcomeNotFound:
			if p.Service == "s3" && p.Code == "NoSuchBucket" {
				v.add(DiagnosisCURBucketMissing, fmt.Sprintf(
					"The CUR bucket %s does not exist. Give the onboarding stack the bucket your Cost & Usage Reports are delivered to (Billing console, Data Exports), then verify again.", v.role.CURBucket))
			}
		case OutcomeDenied:
			action := iamActionOf(p)
			resource := ""
			switch p.Name() {
			case "s3:ListObjectsV2":
				resource = "arn:" + v.arn.Partition + ":s3:::" + v.role.CURBucket
			case "s3:GetObject":
				resource = "arn:" + v.arn.Partition + ":s3:::" + v.role.CURBucket + "/" + v.facts.curKey
			}
			switch {
			case p.Name() == "s3:GetObject" && strings.Contains(p.Message, "kms:"):
				v.add(DiagnosisCURKMSRefused, fmt.Sprintf(
					"S3 refused to read s3://%s/%s: the role may not decrypt it (%s). Give the onboarding stack the ARN of the KMS key the report files are encrypted with (CurKmsKeyArn), and check that the key's policy lets IAM policies of account %s grant its use.",
					v.role.CURBucket, v.facts.curKey, clip(p.Message, 200), v.role.AccountID))
			case !v.docsRead || !grants(v.docs, action, resource):
				policy := v.policyOf(action)
				if len(gapPolicies[policy]) == 0 {
					gaps = append(gaps, policy)
				}
				gapPolicies[policy] = append(gapPolicies[policy], action)
			case p.Service == "s3":
				v.add(DiagnosisCURBucketRefused, fmt.Sprintf(
					"S3 refused to list s3://%s/%s although the role's policy allows it. Most likely the bucket belongs to another account: rolecall reads the CUR bucket only if account %s owns it. Otherwise a bucket policy denies the role. Check the bucket's owner and policy in the S3 console.",
					v.role.CURBucket, v.role.CURPrefix, v.role.AccountID))
			case p.Service == "ce" && !v.role.Management && v.facts.boundary == "":
				v.add(DiagnosisCostExplorerMember,
					"Cost Explorer refused this member account's role although its policy allows the call: the management account has not enabled Cost Explorer for member accounts (Billing console, Cost Management preferences). The vendor reads organization-wide costs through the management account; enable member access only if you want per-account access.")
			default:
				blocked = append(blocked, action)
			}
		}
	}
	if len(gaps) > 0 {
		var parts []string
		for _, policy := range gaps {
			part := joinList(gapPolicies[policy])
			if policy != "" {
				part += " (granted by policy " + policy + ")"
			}
			parts = append(parts, part)
		}
		msg := fmt.Sprintf(
			"The role may not call %s. The onboarding stack grants these, so a policy was removed or changed after onboarding: update the stack (or its StackSet) so CloudFormation restores it, then verify again.",
			strings.Join(parts, "; "))
		if len(gapPolicies[bedrockPolicy]) > 0 {
			msg += " If the onboarding switched Bedrock off (EnableBedrockAccess=false), the Bedrock gap is expected: verify with Bedrock off (--no-bedrock)."
		}
		v.add(DiagnosisPermissionGap, msg)
	}
	if len(blocked) > 0 {
		by := "a service control policy, a permissions boundary or a resource policy blocks it"
		if v.facts.boundary != "" {
			by = "the role's permissions boundary " + v.facts.boundary + ", a service control policy or a resource policy blocks it"
		}
		v.add(DiagnosisBlockedOutside, fmt.Sprintf(
			"AWS refused %s although the role's own policies allow it: %s. Ask whoever manages those in your organization to allow the role.",
			joinList(blocked), by))
	}
	if len(errs) > 0 {
		v.add(DiagnosisProbeErrors, fmt.Sprintf(
			"%s failed for reasons other than permissions (see each probe's message); that proves nothing either way. Run verify again; if it keeps failing, check that the service is available in that region.",
			joinList(errs)))
	}
	if len(v.rep.Findings) > 0 {
		var sources []string
		for _, f := range v.rep.Findings {
			if f.Source != "iam:SimulatePrincipalPolicy" && !slices.Contains(sources, f.Source) {
				sources = append(sources, f.Source)
			}
		}
		msg := "The role can change things in this account, which rolecall never grants."
		if len(sources) > 0 {
			msg += " Remove " + joinList(sources) + " from the role"
		} else {
			msg += " Find the policy, boundary or group that allows the writes IAM's simulator reports and remove it"
		}
		v.add(DiagnosisWriteAccess, msg+", then verify again.")
	}
	if len(v.rep.Unproven) > 0 {
		var what []string
		for _, u := range v.rep.Unproven {
			line := u.Check + " on " + u.Target
			if u.Code != "" {
				line += " (" + u.Code + ")"
			}
			what = append(what, line+": "+u.Message)
		}
		v.add(DiagnosisWriteSafetyUnproven, clip(fmt.Sprintf(
			"rolecall could not prove this role is read-only: %s. The self-check reads of the role's own policies must work for the proof: remove the Deny, service control policy or permissions boundary that refuses them (AWS's message above names it where it can), or update the onboarding stack to restore the self-check policy, then verify again. Until then the account counts as unverifiable, not verified.",
			strings.Join(what, "; ")), 1000))
	}
	if v.facts.curEmpty {
		v.add(DiagnosisCURPrefixEmpty, fmt.Sprintf(
			"There is no object under s3://%s/%s. Either the report prefix is wrong (compare it with your report's S3 path prefix in the Billing console, Data Exports) or AWS has not delivered the first report yet, which takes up to 24 hours after you create it.",
			v.role.CURBucket, v.role.CURPrefix))
	}
	v.diagnoseCURSources()
	if k := v.facts.curKMSKey; k != "" {
		given := "no key"
		if v.role.CURKMSKey != "" {
			given = v.role.CURKMSKey
		}
		v.add(DiagnosisCURKMSKey, fmt.Sprintf(
			"The report file s3://%s/%s is encrypted with the KMS key %s, but the onboarding stack was given %s (CurKmsKeyArn). The read worked through another grant; give the stack the key the files use so its own grant covers them.",
			v.role.CURBucket, v.facts.curKey, k, given))
	}
	if len(v.facts.roleDiffers) > 0 {
		v.add(DiagnosisRoleSettings, fmt.Sprintf(
			"The role differs from what the onboarding stack set: %s. Someone changed it after onboarding; update the stack so CloudFormation restores it, then verify again.",
			joinList(v.facts.roleDiffers)))
	}
	if len(v.facts.bedrockLoggingOff) > 0 {
		v.add(DiagnosisBedrockLoggingOff, fmt.Sprintf(
			"Bedrock model invocation logging is off in %s, so the vendor sees no per-invocation data there. Turn it on in the Bedrock console (Settings, Model invocation logging) if you want that data analysed.",
			joinList(v.facts.bedrockLoggingOff)))
	}
	if !v.role.Bedrock {
		v.rep.Notes = append(v.rep.Notes, Diagnosis{Code: NoteBedrockDisabled, Message: "The optional Bedrock module is off (EnableBedrockAccess=false), so Bedrock was not checked and the vendor sees no Bedrock usage. This is not a problem; set EnableBedrockAccess=true on the onboarding stack to turn it on."})
	}
}

// diagnoseCURSources says, in the management account, what delivers the
// reports under the CUR bucket and prefix: a legacy report, a CUR 2.0
// export, or neither. "Neither" needs both lists complete.
func (v *run) diagnoseCURSources() {
	c := v.facts.cur
	where := fmt.Sprintf("s3://%s/%s", v.role.CURBucket, v.role.CURPrefix)
	if len(c.legacy) > 0 {
		v.note(NoteCURLegacy, fmt.Sprintf("The reports under %s come from the legacy Cost & Usage Report definition %s.", where, joinList(c.legacy)))
	}
	if len(c.exports) > 0 {
		v.note(NoteCURExport, fmt.Sprintf("The reports under %s come from the CUR 2.0 data export %s.", where, joinList(c.exports)))
	}
	if len(c.legacy) > 0 || len(c.exports) > 0 || !c.legacyComplete || !c.exportsComplete {
		return
	}
	if len(c.elsewhere) > 0 {
		v.add(DiagnosisCURReportElsewhere, fmt.Sprintf(
			"No Cost & Usage Report or CUR 2.0 data export of this account delivers under %s: %s deliver elsewhere. Give the onboarding stack the bucket and prefix your reports use.",
			where, joinList(c.elsewhere)))
		return
	}
	v.add(DiagnosisCURNoReport, fmt.Sprintf(
		"This account has no Cost & Usage Report and no CUR 2.0 data export. Create a data export (Billing console, Data Exports, CUR 2.0) that delivers under %s.", where))
}

func (v *run) note(code, message string) {
	v.rep.Notes = append(v.rep.Notes, Diagnosis{Code: code, Message: message})
}

func (v *run) add(code, message string) {
	v.rep.Diagnoses = append(v.rep.Diagnoses, Diagnosis{Code: code, Message: message})
}

// iamActionOf returns the IAM action that authorises a probe's call.
func iamActionOf(p Probe) string {
	if s, ok := specOf(p); ok {
		return s.iamAction
	}
	return p.Service + ":" + p.Action
}

// bedrockPolicy is the inline policy of the optional Bedrock module.
var bedrockPolicy = permissions.Module{ID: permissions.ModuleBedrock}.PolicyName()

// policyOf names the rolecall policy that grants action to this role, or
// returns "".
func (v *run) policyOf(action string) string {
	for _, m := range permissions.Granted(v.role.Target()) {
		for _, s := range m.Statements {
			for _, a := range s.Actions {
				if strings.EqualFold(a, action) {
					return m.PolicyNameOf(s)
				}
			}
		}
	}
	return ""
}

// joinList writes "a", "a and b" or "a, b and c", without repeats.
func joinList(items []string) string {
	var uniq []string
	for _, i := range items {
		if !slices.Contains(uniq, i) {
			uniq = append(uniq, i)
		}
	}
	switch len(uniq) {
	case 0:
		return ""
	case 1:
		return uniq[0]
	}
	return strings.Join(uniq[:len(uniq)-1], ", ") + " and " + uniq[len(uniq)-1]
}
