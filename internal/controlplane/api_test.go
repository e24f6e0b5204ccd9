package controlplane

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

// apiGet fetches path with the token (or none) and decodes JSON into v.
func (in *instance) apiGet(t *testing.T, path, token string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, in.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := in.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func TestAPIGivesIngestionWhatItNeeds(t *testing.T) {
	srv := emulatortest.Shared(t)
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), nil)
	h := add(t, in, "Api Corp")
	add(t, in, "Waiting Corp")
	st := newStack(t, srv, "300000000061", h.Secret)
	now := time.Now().UTC().Truncate(time.Second)
	if code, r := in.send(t, st, st.payload(callback.EventOnboardingCreated, "o-api0000001", now, role("300000000061", callback.StatusVerified), role("300000000062", callback.StatusGaps))); code != 200 {
		t.Fatalf("%d %+v", code, r)
	}
	if code, _ := in.send(t, st, st.payload(callback.EventAccountAdded, "o-api0000001", now.Add(time.Second), role("300000000063", callback.StatusVerified))); code != 200 {
		t.Fatal(code)
	}

	// Without the token, or with a wrong one: 401 with a challenge.
	for _, token := range []string{"", "x" + testToken} {
		if code := in.apiGet(t, "/api/v1/customers", token, nil); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", token, code)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, in.ts.URL+"/", nil)
	req.SetBasicAuth("operator", testToken)
	resp, err := in.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("basic auth with the token: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	var list struct {
		Customers []APICustomer `json:"customers"`
	}
	if code := in.apiGet(t, "/api/v1/customers", testToken, &list); code != 200 || len(list.Customers) != 2 {
		t.Fatalf("customers: %d, %d", code, len(list.Customers))
	}
	statuses := map[string]string{}
	for _, c := range list.Customers {
		statuses[c.Name] = c.Status
	}
	if statuses["Api Corp"] != StatusAttention || statuses["Waiting Corp"] != StatusIssued {
		t.Fatalf("statuses %v", statuses)
	}

	var c APICustomer
	if code := in.apiGet(t, "/api/v1/customers/"+h.CustomerID, testToken, &c); code != 200 {
		t.Fatal(code)
	}
	if len(c.Organizations) != 1 {
		t.Fatalf("organizations %+v", c.Organizations)
	}
	o := c.Organizations[0]
	if o.CUR == nil || o.CUR.Bucket != "cur-300000000061" || strings.Join(o.InventoryRegions, ",") != "us-east-1" || len(o.Roles) != 3 ||
		o.Roles[2].RoleARN != "arn:aws:iam::300000000063:role/VendorReadOnly" || c.ManagementAccountID != "300000000061" {
		t.Fatalf("the customer's organization: %+v", o)
	}
	if code := in.apiGet(t, "/api/v1/customers/cus_aaaaaaaaaaaaaaaa", testToken, nil); code != 404 {
		t.Fatalf("an unknown customer: %d", code)
	}

	// The changes feed, page by page with its cursor: every event once.
	var seen []string
	cursor := "0"
	for range 10 {
		var page struct {
			Changes []APIChange `json:"changes"`
			Cursor  int64       `json:"cursor"`
		}
		if code := in.apiGet(t, "/api/v1/changes?limit=2&after="+cursor, testToken, &page); code != 200 {
			t.Fatal(code)
		}
		if len(page.Changes) == 0 {
			break
		}
		for _, ch := range page.Changes {
			seen = append(seen, ch.Event)
		}
		cursor = jsonInt(page.Cursor)
	}
	if got := strings.Join(seen, ","); got != "customer.added,customer.added,customer.bound,onboarding.created,account.added" {
		t.Fatalf("changes: %s", got)
	}
	for _, bad := range []string{"/api/v1/changes?after=-1", "/api/v1/changes?limit=0", "/api/v1/changes?limit=abc", "/api/v1/changes?customer=bob", "/api/v1/customers?limit=5000"} {
		if code := in.apiGet(t, bad, testToken, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
