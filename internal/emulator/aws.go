package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// OrganizationAccountAccessRole is the role AWS Organizations creates in
// every account it creates, trusted by the management account.
const OrganizationAccountAccessRole = "OrganizationAccountAccessRole"

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// AssumeRole assumes roleARN with cfg's credentials and returns a copy of
// cfg that acts as the role's session. externalID is sent only if it is not
// empty. In moto, the session acts in the role's account, whichever account
// the caller is in.
func AssumeRole(ctx context.Context, cfg aws.Config, roleARN, externalID, sessionName string) (aws.Config, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String(sessionName),
	}
	if externalID != "" {
		in.ExternalId = aws.String(externalID)
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, in)
	if err != nil {
		return aws.Config{}, fmt.Errorf("assume role %s: %w", roleARN, err)
	}
	c := out.Credentials
	session := cfg.Copy()
	session.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	return session, nil
}

// AccountConfig returns a config for an administrator of accountID: for
// DefaultAccountID the administrator of Config, for any other account a
// session of its OrganizationAccountAccessRole, assumed by that
// administrator, as an operator would reach a member account.
//
// Moto creates OrganizationAccountAccessRole without any permission (AWS
// attaches AdministratorAccess), so the first call for an account grants the
// role AdminPolicyName, creating the role if the account has none; it does
// so in a short window without authorisation, during which requests made
// through this server's configs wait.
func (s *Server) AccountConfig(ctx context.Context, accountID string) (aws.Config, error) {
	if !accountIDPattern.MatchString(accountID) {
		return aws.Config{}, fmt.Errorf("account config: %q is not a 12-digit account ID", accountID)
	}
	if accountID == DefaultAccountID {
		return s.Config(), nil
	}
	s.mu.Lock()
	ready := s.accountAdmins[accountID]
	s.mu.Unlock()
	if !ready {
		s.gate.Lock()
		err := s.withoutAuth(ctx, func(ctx context.Context, cfg aws.Config) error {
			return grantAccountAdmin(ctx, cfg, accountID)
		})
		s.gate.Unlock()
		if err != nil {
			return aws.Config{}, fmt.Errorf("account config for %s: %w", accountID, err)
		}
		s.mu.Lock()
		s.accountAdmins[accountID] = true
		s.mu.Unlock()
	}
	roleARN := fmt.Sprintf("arn:aws:iam::%s:role/%s", accountID, OrganizationAccountAccessRole)
	return AssumeRole(ctx, s.Config(), roleARN, "", "emulator-admin")
}

// grantAccountAdmin gives OrganizationAccountAccessRole in accountID every
// permission. It runs while authorisation is off, when moto takes the
// account from the x-moto-account-id header.
func grantAccountAdmin(ctx context.Context, cfg aws.Config, accountID string) error {
	client := iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("x-moto-account-id", accountID))
	})
	put := &iam.PutRolePolicyInput{
		RoleName:       aws.String(OrganizationAccountAccessRole),
		PolicyName:     aws.String(AdminPolicyName),
		PolicyDocument: aws.String(AllowPolicy("*")),
	}
	_, err := client.PutRolePolicy(ctx, put)
	if ErrorCode(err) == "NoSuchEntity" {
		_, err = client.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName:                 aws.String(OrganizationAccountAccessRole),
			AssumeRolePolicyDocument: aws.String(TrustPolicy(fmt.Sprintf("arn:aws:iam::%s:root", DefaultAccountID))),
		})
		if err != nil {
			return fmt.Errorf("create %s: %w", OrganizationAccountAccessRole, err)
		}
		_, err = client.PutRolePolicy(ctx, put)
	}
	if err != nil {
		return fmt.Errorf("grant %s: %w", OrganizationAccountAccessRole, err)
	}
	return nil
}

// S3Client returns an S3 client for cfg that uses path-style addressing,
// which a local endpoint needs (there is no bucket.127.0.0.1). optFns apply
// after it.
func S3Client(cfg aws.Config, optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }}, optFns...)...)
}

// CreateBucket creates a bucket in cfg's account and region.
func CreateBucket(ctx context.Context, cfg aws.Config, name string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if cfg.Region != "" && cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(cfg.Region),
		}
	}
	if _, err := S3Client(cfg).CreateBucket(ctx, in); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// PrincipalOf returns the principal cfg's identity is, as a trust policy
// names it: a user's ARN, or for a role session the role's ARN.
func PrincipalOf(ctx context.Context, cfg aws.Config) (string, error) {
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is this identity: %w", err)
	}
	arn := aws.ToString(out.Arn)
	// arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
	if rest, ok := strings.CutPrefix(arn, "arn:aws:sts::"); ok {
		account, role, _ := strings.Cut(rest, ":assumed-role/")
		name, _, _ := strings.Cut(role, "/")
		return "arn:aws:iam::" + account + ":role/" + name, nil
	}
	return arn, nil
}

// CreateBucketIn creates a bucket in cfg's account, in region.
func CreateBucketIn(ctx context.Context, cfg aws.Config, name, region string) error {
	c := cfg.Copy()
	c.Region = region
	return CreateBucket(ctx, c, name)
}

// IAMRoleExists reports whether cfg's account has a role named roleName.
func IAMRoleExists(ctx context.Context, cfg aws.Config, roleName string) (bool, error) {
	_, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
	switch {
	case err == nil:
		return true, nil
	case ErrorCode(err) == "NoSuchEntity":
		return false, nil
	default:
		return false, fmt.Errorf("get role %s: %w", roleName, err)
	}
}

// CreateUser creates an IAM user in cfg's account with policyDocument as its
// only (inline) policy, and returns a copy of cfg signed with a new access
// key of that user.
func CreateUser(ctx context.Context, cfg aws.Config, userName, policyDocument string) (aws.Config, error) {
	client := iam.NewFromConfig(cfg)
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(userName)}); err != nil {
		return aws.Config{}, fmt.Errorf("create user %s: %w", userName, err)
	}
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName:       aws.String(userName),
		PolicyName:     aws.String(userName + "-policy"),
		PolicyDocument: aws.String(policyDocument),
	}); err != nil {
		return aws.Config{}, fmt.Errorf("put policy of user %s: %w", userName, err)
	}
	out, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(userName)})
	if err != nil {
		return aws.Config{}, fmt.Errorf("create access key of user %s: %w", userName, err)
	}
	user := cfg.Copy()
	user.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
		aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey), ""))
	return user, nil
}

// CreateRole creates an IAM role in cfg's account with trustPolicy and, if
// policyDocument is not empty, that inline policy, and returns its ARN.
func CreateRole(ctx context.Context, cfg aws.Config, roleName, trustPolicy, policyDocument string) (string, error) {
	client := iam.NewFromConfig(cfg)
	out, err := client.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(roleName),
		AssumeRolePolicyDocument: aws.String(trustPolicy),
	})
	if err != nil {
		return "", fmt.Errorf("create role %s: %w", roleName, err)
	}
	if policyDocument != "" {
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName:       aws.String(roleName),
			PolicyName:     aws.String(roleName + "-policy"),
			PolicyDocument: aws.String(policyDocument),
		}); err != nil {
			return "", fmt.Errorf("put policy of role %s: %w", roleName, err)
		}
	}
	return aws.ToString(out.Role.Arn), nil
}

// AllowPolicy returns an identity policy document that allows actions on
// every resource.
func AllowPolicy(actions ...string) string {
	return mustJSON(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":   "Allow",
			"Action":   actions,
			"Resource": "*",
		}},
	})
}

// TrustPolicy returns a trust policy document that lets principalARN call
// sts:AssumeRole and, if externalIDs are given, requires one of them with
// StringEquals on sts:ExternalId (a single value as a string, several as a
// list).
func TrustPolicy(principalARN string, externalIDs ...string) string {
	statement := map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principalARN},
		"Action":    "sts:AssumeRole",
	}
	switch len(externalIDs) {
	case 0:
	case 1:
		statement["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalIDs[0]}}
	default:
		statement["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalIDs}}
	}
	return mustJSON(map[string]any{"Version": "2012-10-17", "Statement": []any{statement}})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings reach here
	}
	return string(b)
}

// ErrorCode returns the AWS error code of err (such as "AccessDenied" or
// "NoSuchEntity"), or "" if err carries none.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
