package onboarding

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/rolecall/rolecall/callback"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

func env() func(string) string {
	vars := map[string]string{
		params.EnvVendorName:   "Vendor",
		params.EnvRoleName:     "VendorReadOnly",
		params.EnvStackSetName: "onboarding-roles",
		params.EnvStackID:      stackID,
		params.EnvSecretARN:    "arn:aws:secretsmanager:us-east-1:111111111111:secret:OnboardingSecret-AbCdEf",
		params.EnvCallbackURL:  "https://hooks.vendor.example/aws",
		params.EnvAudience:     "hooks.vendor.example",
		params.EnvStateTable:   "rolecall-onboarding-StateTable-ABC",
	}
	return func(k string) string { return vars[k] }
}

// stackParams are the onboarding stack's parameters as DescribeStacks
// shows them: the callback secret masked, the external ID plain.
func stackParams() map[string]string {
	return map[string]string{
		params.ExternalID.Name:           "ext-0123456789abcdef0123456789abcdef",
		params.CallbackSecret.Name:       "****",
		params.CURBucketName.Name:        "acme-cur",
		params.CURReportPrefix.Name:      "cur/",
		params.InventoryRegions.Name:     "us-east-1,eu-west-1",
		params.EnableBedrockAccess.Name:  "true",
		params.LogGroupNames.Name:        "",
		params.DeployToOrganization.Name: "true",
		params.StackSetCallAs.Name:       "SELF",
	}
}

func stackInstanceEvent(action, detailed, stackSet, reason string) json.RawMessage {
	ev := map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
		"detail-type": params.StackInstanceEventType, "source": "aws.cloudformation",
		"account": mgmtAccount, "time": "2026-11-24T09:00:00Z", "region": "us-east-1",
		"detail": map[string]any{
			"stack-set-arn":  "arn:aws:cloudformation:us-east-1:" + mgmtAccount + ":stackset/" + stackSet + ":6b8f2f0a-1111-2222-3333-444455556666",
			"stack-id":       "arn:aws:cloudformation:us-east-1:555555555555:stack/StackSet-" + stackSet + "-1/0a1b",
			"action":         action,
			"status-details": map[string]any{"status": "CURRENT", "detailed-status": detailed, "status-reason": reason},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestStackInstanceEvents(t *testing.T) {
	tests := []struct {
		name       string
		event      json.RawMessage
		sendErr    error
		wantEvent  callback.Event
		wantStatus callback.Status
		wantVerify bool
		wantErr    bool
	}{
		{name: "an account joins: verified and added", event: stackInstanceEvent("CREATE", "SUCCEEDED", "onboarding-roles", ""), wantEvent: callback.EventAccountAdded, wantStatus: callback.StatusVerified, wantVerify: true},
		{name: "the role could not be created there", event: stackInstanceEvent("CREATE", "FAILED", "onboarding-roles", "blocked by SCP"), wantEvent: callback.EventAccountAdded, wantStatus: callback.StatusUnreachable},
		{name: "an account leaves: removed", event: stackInstanceEvent("DELETE", "SUCCEEDED", "onboarding-roles", ""), wantEvent: callback.EventAccountRemoved, wantStatus: callback.StatusUnreachable},
		{name: "another StackSet's event is ignored", event: stackInstanceEvent("CREATE", "SUCCEEDED", "someone-elses", "")},
		{name: "an update of an instance changes no account", event: stackInstanceEvent("UPDATE", "SUCCEEDED", "onboarding-roles", "")},
		{name: "a running operation is ignored", event: stackInstanceEvent("CREATE", "RUNNING", "onboarding-roles", "")},
		{name: "a malformed event is ignored", event: json.RawMessage(`{"detail-type":"` + params.StackInstanceEventType + `","source":"aws.cloudformation","detail":{}}`)},
		{name: "an undelivered callback asks Lambda to retry", event: stackInstanceEvent("CREATE", "SUCCEEDED", "onboarding-roles", ""), sendErr: errors.New("503"), wantEvent: callback.EventAccountAdded, wantStatus: callback.StatusVerified, wantVerify: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !IsStackInstanceEvent(tt.event) {
				t.Fatal("IsStackInstanceEvent = false")
			}
			v := &fakeVerifier{}
			sender := &fakeSender{err: tt.sendErr}
			err := newService(v, fakeStacks{params: stackParams()}, sender).HandleStackInstanceEvent(fnCtx(t), tt.event)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if (len(v.seen) == 1) != tt.wantVerify {
				t.Errorf("verified %d roles, want verification %v", len(v.seen), tt.wantVerify)
			}
			if tt.wantEvent == "" {
				if len(sender.payloads) != 0 {
					t.Errorf("sent %+v for an event that changes nothing", sender.payloads)
				}
				return
			}
			if len(sender.payloads) != 1 {
				t.Fatalf("%d callbacks", len(sender.payloads))
			}
			p := sender.payloads[0]
			if p.Event != tt.wantEvent || len(p.Accounts) != 1 || p.Accounts[0].AccountID != "555555555555" || p.Accounts[0].Status != tt.wantStatus {
				t.Errorf("payload %+v", p)
			}
			if p.Accounts[0].RoleARN != "arn:aws:iam::555555555555:role/VendorReadOnly" {
				t.Errorf("role %s", p.Accounts[0].RoleARN)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("payload does not validate: %v", err)
			}
			if tt.wantVerify && (v.seen[0].Management || v.seen[0].ExternalID != "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60") {
				t.Errorf("verified %+v", v.seen[0])
			}
		})
	}
}

func TestEventIDIsStableAcrossRetries(t *testing.T) {
	var ids []string
	for range 2 {
		sender := &fakeSender{}
		if err := newService(&fakeVerifier{}, fakeStacks{params: stackParams()}, sender).HandleStackInstanceEvent(fnCtx(t), stackInstanceEvent("DELETE", "SUCCEEDED", "onboarding-roles", "")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sender.payloads[0].ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("a retried event got a new id: %v", ids)
	}
}

func TestABrokenEnvironmentIsAnError(t *testing.T) {
	broken := func(k string) string {
		if k == params.EnvCallbackURL {
			return "ftp://nowhere"
		}
		return env()(k)
	}
	s := newService(&fakeVerifier{}, fakeStacks{params: stackParams()}, &fakeSender{})
	s.Settings, s.SettingsErr = LoadSettings(broken, false)
	err := s.HandleStackInstanceEvent(fnCtx(t), stackInstanceEvent("CREATE", "SUCCEEDED", "onboarding-roles", ""))
	if err == nil || !strings.Contains(err.Error(), params.EnvCallbackURL) {
		t.Fatalf("error %v", err)
	}
	// The custom resources are answered with the same reason.
	_, err = s.Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	if err == nil || !strings.Contains(err.Error(), params.EnvCallbackURL) || !strings.Contains(err.Error(), "deploy the template") {
		t.Fatalf("custom resource error %v", err)
	}
}

func TestStackInstanceEventsKeepTheState(t *testing.T) {
	s := newService(&fakeVerifier{}, fakeStacks{params: stackParams()}, &fakeSender{})
	st := s.State.(*fakeState)
	if err := s.HandleStackInstanceEvent(fnCtx(t), stackInstanceEvent("CREATE", "SUCCEEDED", "onboarding-roles", "")); err != nil {
		t.Fatal(err)
	}
	if r, ok := st.records["555555555555"]; !ok || r.Status != callback.StatusVerified || r.PermissionSet != permissions.Version {
		t.Fatalf("state after the account joined: %+v", st.records)
	}
	if err := s.HandleStackInstanceEvent(fnCtx(t), stackInstanceEvent("DELETE", "SUCCEEDED", "onboarding-roles", "")); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.records["555555555555"]; ok {
		t.Error("the account that left is still on record")
	}
}
