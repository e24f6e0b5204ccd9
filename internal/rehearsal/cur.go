package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/params"
)

// curRegion is where the rehearsal moves the CUR bucket: not the stack's.
const curRegion = "eu-west-1"

// CURPlacement is one place a customer keeps the Cost & Usage Reports,
// rehearsed as a stack update.
type CURPlacement struct {
	Name string
	// Preflight is Preflight's answer to the update; Refused is true when
	// it stopped the update, as it must for a wrong value.
	Preflight Response
	Refused   bool
	// Verification is the verification's answer, when the update ran.
	Verification Response
	// Holder is the account whose role reads the bucket, and its record
	// at the vendor after the update.
	Holder       string
	HolderStored callback.Account
	// Management is the management account's record.
	Management callback.Account
}

// curPlacements moves the CUR where customers of peer products keep it:
// a bucket in another region, then one in a log-archive member account,
// SSE-KMS-encrypted, delivered by a CUR 2.0 data export. Each is a stack
// update; a wrong value is refused by Preflight before anything changes.
func (r *rehearsal) curPlacements(ctx context.Context) error {
	mgmt := r.org.ManagementAccountID
	farBucket := "org-cur-" + mgmt + "-" + curRegion
	if err := createReportBucket(ctx, r.admin, farBucket, curRegion, "cur/rolecall-rehearsal/20261101-20261201/rolecall-rehearsal-00001.csv.gz", ""); err != nil {
		return err
	}
	r.fakes.PlayCUR([]emulator.RecordedReport{{Name: "rolecall-rehearsal", Bucket: farBucket, Prefix: "cur", Region: curRegion}}, nil)
	r.printf("   a legacy Cost & Usage Report now delivers to s3://%s/cur/ in %s\n", farBucket, curRegion)

	if _, err := r.placement(ctx, "a wrong CurBucketRegion is refused before anything changes",
		map[string]string{params.CURBucketName.Name: farBucket, params.CURBucketRegion.Name: "us-west-2"}, ""); err != nil {
		return err
	}
	p, err := r.placement(ctx, "the bucket in "+curRegion+", its region found by Preflight",
		map[string]string{params.CURBucketName.Name: farBucket, params.CURBucketRegion.Name: ""}, mgmt)
	if err != nil {
		return err
	}
	if p.HolderStored.Status != callback.StatusVerified {
		return fmt.Errorf("the management role reading s3://%s in %s is %s, want verified", farBucket, curRegion, p.HolderStored.Status)
	}
	r.res.DeadLetters = fmt.Sprint(p.Verification.Data[params.DataUnprocessedEvents])

	// A log-archive account of the Security OU keeps the reports,
	// encrypted with its own KMS key, from a CUR 2.0 export.
	security, ok := r.org.OUByPath("Root/Security")
	if !ok || len(security.AccountIDs) == 0 {
		return errors.New("no account in Root/Security to keep the reports")
	}
	archive := security.AccountIDs[0]
	archiveAdmin, err := r.aws.AccountConfig(ctx, archive)
	if err != nil {
		return err
	}
	key := "arn:aws:kms:" + curRegion + ":" + archive + ":key/5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
	archiveBucket := "log-archive-cur-" + archive
	if err := createReportBucket(ctx, archiveAdmin, archiveBucket, curRegion, "cur/rolecall-rehearsal-cur2/data/BILLING_PERIOD=2026-11/rolecall-rehearsal-cur2-00001.snappy.parquet", key); err != nil {
		return err
	}
	r.fakes.PlayCUR(nil, []emulator.RecordedExport{{Name: "rolecall-rehearsal-cur2", Bucket: archiveBucket, Prefix: "cur", Region: curRegion, Owner: archive}})
	r.printf("   a CUR 2.0 data export now delivers to s3://%s/cur/ in account %s (log archive), encrypted with KMS key %s\n", archiveBucket, archive, key)

	p, err = r.placement(ctx, "the bucket in the log-archive account, without its KMS key",
		map[string]string{params.CURBucketName.Name: archiveBucket, params.CURBucketAccountID.Name: archive}, archive)
	if err != nil {
		return err
	}
	if !hasDiagnosis(p.HolderStored, "cur_kms_refused") {
		return fmt.Errorf("the log-archive role reading SSE-KMS reports without the key is %s without cur_kms_refused", p.HolderStored.Status)
	}
	p, err = r.placement(ctx, "the same, with CurKmsKeyArn",
		map[string]string{params.CURKMSKeyARN.Name: key}, archive)
	if err != nil {
		return err
	}
	if p.HolderStored.Status != callback.StatusVerified {
		return fmt.Errorf("the log-archive role reading SSE-KMS reports with the key is %s, want verified", p.HolderStored.Status)
	}
	return nil
}

// placement runs one CUR update and records it. An empty holder means
// Preflight must refuse it.
func (r *rehearsal) placement(ctx context.Context, name string, changes map[string]string, holder string) (CURPlacement, error) {
	r.printf("   -- %s\n", name)
	p := CURPlacement{Name: name, Holder: holder}
	resp, err := r.update(ctx, changes, cfn.StatusSuccess)
	switch {
	case holder == "" && errors.Is(err, errPreflightFailed):
		p.Preflight, p.Refused = resp, true
		r.res.CUR = append(r.res.CUR, p)
		r.printf("   Preflight refused it; CloudFormation rolls the update back and the roles stay as they were\n")
		return p, nil
	case holder == "" && err == nil:
		return p, fmt.Errorf("%s: the update went through", name)
	case err != nil:
		return p, err
	}
	p.Verification = resp
	stored, err := r.stored(ctx)
	if err != nil {
		return p, err
	}
	p.HolderStored, _ = accountOf(stored, holder)
	p.Management, _ = accountOf(stored, r.org.ManagementAccountID)
	r.res.CUR = append(r.res.CUR, p)
	r.printf("   vendor: the CUR is s3://%s/%s (account %s, region %s); the role in %s is %s\n",
		stored.CUR.Bucket, stored.CUR.Prefix, orDash(stored.CUR.AccountID), orDash(stored.CUR.Region), holder, p.HolderStored.Status)
	for _, d := range append(p.HolderStored.Diagnoses, p.Management.Diagnoses...) {
		if strings.HasPrefix(d.Code, "cur_") {
			r.printf("     %s: %s\n", d.Code, d.Message)
		}
	}
	return p, nil
}

// createReportBucket creates a bucket in region with one report file,
// encrypted with key when one is given (SSE-KMS), as a CUR delivery would.
func createReportBucket(ctx context.Context, admin aws.Config, bucket, region, key, kmsKey string) error {
	if err := emulator.CreateBucketIn(ctx, admin, bucket, region); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader("identity_line_item_id,line_item_unblended_cost\nrehearsal,0.01\n"),
	}
	if kmsKey != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(kmsKey)
	}
	_, err := emulator.S3Client(admin, func(o *s3.Options) { o.Region = region }).PutObject(ctx, in)
	return err
}

func accountOf(o *ledger.Onboarding, id string) (callback.Account, bool) {
	for _, a := range o.Accounts {
		if a.AccountID == id {
			return a, true
		}
	}
	return callback.Account{}, false
}

func hasDiagnosis(a callback.Account, code string) bool {
	for _, d := range a.Diagnoses {
		if d.Code == code {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
