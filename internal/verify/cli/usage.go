package cli

import (
	"fmt"
	"strings"

	"github.com/rolecall/rolecall/internal/verify"
)

// usage is the --help text. Statuses, outcomes and diagnoses come from
// package verify, so the help cannot drift from what the engine reports.
func usage() string {
	var b strings.Builder
	b.WriteString(`verify proves that the vendor's read-only role works and cannot change anything.

It assumes the role with your external ID, as the vendor does, makes one
harmless read call per service the role was granted (per inventory region for
regional services), reads the role's own policies back and checks that every
one is read-only (the gate knows every action of every AWS service, so a write
in any service is found), and asks IAM's policy simulator about every write
action of the granted services. A policy it cannot read or evaluate, or a
refused simulation, makes the account unverifiable: absence of proof is never
taken as proof. It never makes a call that could change anything.

Usage:
  rolecall-verify --role-arn ARN [--regions us-east-1,eu-west-1] [--cur-bucket B [--cur-prefix P]] [--no-bedrock] [--log-groups G1,G2]
  rolecall-verify --stack NAME [--regions ...]
  rolecall-verify --stack-set NAME --role-name NAME [--call-as SELF|DELEGATED_ADMIN] [--regions ...]
  rolecall-verify --plan N [--schedule rate(12 hours)] [--regions ...] [--no-bedrock] [--log-groups ...]

The external ID comes from the environment variable ` + EnvExternalID + `
(recommended: it stays out of your shell history) or from --external-id.

What to verify (exactly one):
  --role-arn ARN        one role, arn:aws:iam::123456789012:role/NAME. For the
                        management account's role, also give --cur-bucket (and
                        --cur-prefix): it alone may read the CUR bucket.
  --stack NAME          every role of an onboarding: the management account's
                        role and settings from the stack's outputs and
                        parameters, and every member account from its StackSet.
  --stack-set NAME      every member account's role, from the StackSet's
                        instances (name or ID); needs --role-name.

What it costs, before you run it:
  --plan N              print the AWS calls and paid requests (Cost Explorer,
                        $0.01 each) of verifying an organization of N accounts:
                        at the stack's creation or update, on each scheduled
                        re-verification, and for 30 days of --schedule (default
                        rate(12 hours)). Makes no call and needs no external ID.

Role settings (with --role-arn; --stack and --stack-set read them from CloudFormation):
  --regions LIST        inventory regions where regional services (Bedrock,
                        CloudWatch, Logs, CloudTrail) are probed; default: the
                        stack's InventoryRegions, else your AWS region.
  --cur-bucket NAME     the CUR bucket (management account's role only).
  --cur-prefix PREFIX   the CUR report prefix, such as cur/.
  --no-bedrock          the role was onboarded with EnableBedrockAccess=false.
  --log-groups LIST     the LogGroupNames the role may read events from.
  --role-name NAME      with --stack-set: the role's name in every account.
  --call-as WHO         with --stack-set: SELF (management account, default) or
                        DELEGATED_ADMIN (a delegated administrator account).

AWS access (the standard SDK configuration applies, including
AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> for a local endpoint):
  --profile NAME        a profile from your AWS config files.
  --region REGION       your region; with --stack or --stack-set, the stack's.
  Your identity needs sts:AssumeRole on the role, and must be trusted by it:
  list it in the onboarding stack's AdditionalVerifierPrincipalArns. For
  --stack and --stack-set it also needs cloudformation:DescribeStacks,
  DescribeStackSet and ListStackInstances.

Output and pacing:
  --json                one JSON document: {"accounts":[reports...],"summary":{...}}
                        with reports in the order they finish; snake_case fields.
  --verbose             list every probe, not only the ones that need attention.
  --concurrency N       accounts verified at once (1-256, default ` + fmt.Sprint(verify.DefaultConcurrency) + `).
  --timeout D           time limit per account (default ` + verify.DefaultAccountTimeout.String() + `).
  --assume-wait D       how long a denied AssumeRole is retried while a new
                        role propagates through IAM (default ` + verify.DefaultAssumeRoleWait.String() + `; 0s: once).

Account status:
`)
	for _, e := range verify.Statuses() {
		writeItem(&b, e.Name, e.Explain)
	}
	b.WriteString("\nProbe outcome:\n")
	for _, e := range verify.Outcomes() {
		writeItem(&b, e.Name, e.Explain)
	}
	b.WriteString("\nDiagnoses (and notes), each with a stable code:\n")
	for _, d := range verify.DiagnosisCodes() {
		name := d.Code
		if d.Note {
			name += " (note)"
		}
		writeItem(&b, name, d.Explain)
	}
	b.WriteString("\nExit status:\n")
	for _, e := range ExitCodes() {
		writeItem(&b, fmt.Sprint(e.Code), e.Explain)
	}
	return b.String()
}

// writeItem writes "  name  text", wrapping text at 80 columns.
func writeItem(b *strings.Builder, name, text string) {
	const indent = 6
	b.WriteString("  " + name + "\n")
	line := strings.Repeat(" ", indent)
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 80 && len(strings.TrimSpace(line)) > 0 {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = strings.Repeat(" ", indent)
		}
		if strings.TrimSpace(line) != "" {
			line += " "
		}
		line += word
	}
	b.WriteString(strings.TrimRight(line, " ") + "\n")
}
