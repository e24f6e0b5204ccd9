package controlplane

import (
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/browser"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

var screenshots = flag.Bool("screenshots", false, "write the operator page's screenshots to docs/screenshots")

// screenshotWidth is the width, in CSS pixels, of the screenshots in
// docs/screenshots.
const screenshotWidth = 1280

// sentOrg is what the test told the control plane about one organization:
// each account's last status.
type sentOrg map[string]callback.Status

func (o sentOrg) set(accounts ...callback.Account) {
	for _, a := range accounts {
		o[a.AccountID] = a.Status
	}
}

func (o sentOrg) count(s callback.Status) int {
	n := 0
	for _, st := range o {
		if st == s {
			n++
		}
	}
	return n
}

func gapsRole(account string) callback.Account {
	a := role(account, callback.StatusGaps)
	a.Diagnoses = []callback.Diagnosis{{Code: "permission_gap", Message: "The role may not call ce:GetCostAndUsage (granted by policy VendorCostRead). The onboarding stack grants these, so a policy was removed or changed after onboarding: update the stack (or its StackSet) so CloudFormation restores it, then verify again."}}
	a.FailedProbes = []callback.Probe{{Action: "ce:GetCostAndUsage", Region: "us-east-1", Outcome: callback.OutcomeDenied}}
	return a
}

func findingRole(account string) callback.Account {
	a := role(account, callback.StatusFinding)
	a.Diagnoses = []callback.Diagnosis{{Code: "write_access", Message: "The role can change things in this account, which rolecall never grants. Remove attached policy arn:aws:iam::aws:policy/AdministratorAccess from the role, then verify again."}}
	a.Findings = []callback.Finding{{Kind: "all_actions", Source: "attached policy arn:aws:iam::aws:policy/AdministratorAccess", PolicyType: "managed",
		Policy: "arn:aws:iam::aws:policy/AdministratorAccess", Statement: "#1", StatementIndex: 1, Effect: "Allow", Action: "*", Resources: []string{"*"},
		Detail: "Action \"*\" allows every action, writes included."}}
	return a
}

func unreachableRole(account string) callback.Account {
	a := role(account, callback.StatusUnreachable)
	a.Diagnoses = []callback.Diagnosis{{Code: "external_id_mismatch", Message: "AWS refused to let this identity assume the role (AccessDenied): the external ID does not match the one the role trusts, or the role's trust policy does not name this identity. Confirm the external ID your vendor gave you."}}
	a.FailedProbes = []callback.Probe{{Action: "sts:AssumeRole", Outcome: callback.OutcomeDenied}}
	return a
}

// The operator page as a browser shows it: an organization like make
// demo's (a management account and 21 members, a couple with gaps, one
// with a finding, one unreachable, then an account added, one drifting and
// restored) and a customer in each other status, delivered as real signed
// callbacks; every number and row on the page is read from Chromium's DOM
// and compared with the database and with what was sent.
func TestOperatorPageInChromium(t *testing.T) {
	srv := emulatortest.Shared(t)
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), nil)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	sent := map[string]sentOrg{} // by customer id
	deliver := func(st *stack, customerID string, p callback.Payload) {
		t.Helper()
		if code, r := in.send(t, st, p); code != http.StatusOK || r.Status != "stored" {
			t.Fatalf("%s from %s: %d %+v", p.Event, st.account, code, r)
		}
		if sent[customerID] == nil {
			sent[customerID] = sentOrg{}
		}
		sent[customerID].set(p.Accounts...)
	}

	// The demo's organization.
	nw := add(t, in, "Northwind Traders")
	const mgmt = "310000000000"
	member := func(i int) string { return fmt.Sprintf("3100000000%02d", i) }
	nws := newStack(t, srv, mgmt, nw.Secret)
	accounts := []callback.Account{role(mgmt, callback.StatusVerified)}
	for i := 1; i <= 20; i++ {
		switch i {
		case 2, 3:
			accounts = append(accounts, gapsRole(member(i)))
		case 4:
			accounts = append(accounts, findingRole(member(i)))
		case 5:
			accounts = append(accounts, unreachableRole(member(i)))
		default:
			accounts = append(accounts, role(member(i), callback.StatusVerified))
		}
	}
	const org = "o-northwind01"
	deliver(nws, nw.CustomerID, nws.payload(callback.EventOnboardingCreated, org, now, accounts...))
	deliver(nws, nw.CustomerID, nws.payload(callback.EventAccountAdded, org, now.Add(time.Second), role(member(21), callback.StatusVerified)))
	drifted := gapsRole(member(6))
	drifted.PreviousStatus = callback.StatusVerified
	deliver(nws, nw.CustomerID, nws.payload(callback.EventVerificationDrifted, org, now.Add(2*time.Second), drifted))
	restored := role(member(6), callback.StatusVerified)
	restored.PreviousStatus = callback.StatusGaps
	deliver(nws, nw.CustomerID, nws.payload(callback.EventVerificationRestored, org, now.Add(3*time.Second), restored))
	timeline := []string{"verification.restored", "verification.drifted", "account.added", "onboarding.created"} // newest first

	// A customer in each other status.
	want := map[string]string{nw.CustomerID: StatusFinding}
	other := func(name, account, status string, events ...callback.Event) string {
		t.Helper()
		h := add(t, in, name)
		want[h.CustomerID] = status
		if len(events) == 0 {
			return h.CustomerID
		}
		st := newStack(t, srv, account, h.Secret)
		orgID := "o-" + account
		second := account[:len(account)-1] + "1"
		for i, e := range events {
			roles := []callback.Account{role(account, callback.StatusVerified), role(second, callback.StatusVerified)}
			switch status {
			case StatusAttention:
				roles[1] = gapsRole(second)
			case StatusFailed:
				roles[1] = findingRole(second)
			}
			deliver(st, h.CustomerID, st.payload(e, orgID, now.Add(time.Duration(i)*time.Second), roles...))
		}
		return h.CustomerID
	}
	other("Contoso", "320000000000", StatusVerified, callback.EventOnboardingCreated)
	other("Fabrikam", "330000000000", StatusAttention, callback.EventOnboardingCreated)
	other("Tailspin Toys", "340000000000", StatusFailed, callback.EventVerificationFailed)
	other("Wide World Importers", "350000000000", StatusDeleted, callback.EventOnboardingCreated, callback.EventOnboardingDeleted)
	other("Litware", "", StatusIssued)
	revoked := other("Adventure Works", "360000000000", StatusRevoked, callback.EventOnboardingCreated)
	if err := in.svc.RevokeCustomer(ctx, revoked, "contract ended"); err != nil {
		t.Fatal(err)
	}

	counts, err := in.db.CustomerStatusCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Statuses() {
		if counts[s] != 1 {
			t.Fatalf("the database counts %d customers %s, want 1 of each status: %v", counts[s], s, counts)
		}
	}

	// Without the token, neither page answers.
	for _, path := range []string{"/", "/customers/" + nw.CustomerID} {
		for _, auth := range []string{"", "Bearer not-the-token-0123456789abcdef", "Basic " + "b3BlcmF0b3I6d3Jvbmc="} {
			if code := httpGet(t, in.ts.URL+path, auth); code != http.StatusUnauthorized {
				t.Errorf("GET %s with Authorization %q: %d, want 401", path, auth, code)
			}
		}
		if code := httpGet(t, in.ts.URL+path, "Bearer "+testToken); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d, want 200", path, code)
		}
	}

	b, err := browser.Start(ctx)
	if err != nil {
		t.Fatal(err) // not a skip: make chromium installs it
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	shots := filepath.Join("..", "..", "docs", "screenshots")
	if *screenshots {
		if err := os.MkdirAll(shots, 0o755); err != nil { //nolint:gosec // G301: a docs directory
			t.Fatal(err)
		}
	}

	t.Run("customers", func(t *testing.T) {
		p, err := b.Open(ctx, in.ts.URL+"/", auth)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		tiles := readTiles(t, p, "[data-count]", "data-count")
		if !slices.Equal(slices.Sorted(maps.Keys(tiles)), slices.Sorted(slices.Values(Statuses()))) {
			t.Errorf("status tiles %v, want one per status %v", slices.Sorted(maps.Keys(tiles)), Statuses())
		}
		for s, n := range tiles {
			if n != counts[s] {
				t.Errorf("tile %s shows %d, the database counts %d", s, n, counts[s])
			}
		}
		accounts, verified := 0, 0
		for _, o := range sent {
			accounts += len(o)
			verified += o.count(callback.StatusVerified)
		}
		totals := readTiles(t, p, "[data-total]", "data-total")
		if w := map[string]int{"customers": len(want), "accounts": accounts, "accounts-verified": verified}; !maps.Equal(totals, w) {
			t.Errorf("totals %v, want %v", totals, w)
		}
		rows := zip(t, attrs(t, p, "#customers tr[data-customer]", "data-customer"), attrs(t, p, "#customers tr[data-customer]", "data-status"))
		if !maps.Equal(rows, want) {
			t.Errorf("customer rows (id: status)\n%v\nwant\n%v", rows, want)
		}
		if *screenshots {
			if err := p.Screenshot(ctx, filepath.Join(shots, "customers.png"), screenshotWidth); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("customer", func(t *testing.T) {
		p, err := b.Open(ctx, in.ts.URL+"/customers/"+nw.CustomerID, auth)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if got := texts(t, p, "#status"); !slices.Equal(got, []string{StatusFinding}) {
			t.Errorf("status badge %q, want finding", got)
		}
		o := sent[nw.CustomerID]
		if len(o) != 22 {
			t.Fatalf("the test sent %d accounts, want 22: the management account and 21 members", len(o))
		}
		tiles := readTiles(t, p, "[data-account-count]", "data-account-count")
		wantTiles := map[string]int{}
		for _, s := range []callback.Status{callback.StatusVerified, callback.StatusGaps, callback.StatusFinding, callback.StatusUnverifiable, callback.StatusUnreachable} {
			wantTiles[string(s)] = o.count(s)
		}
		if !maps.Equal(tiles, wantTiles) {
			t.Errorf("account tiles %v, want %v", tiles, wantTiles)
		}
		rows := zip(t, attrs(t, p, "table.accounts tr[data-account]", "data-account"), attrs(t, p, "table.accounts tr[data-account]", "data-status"))
		wantRows := map[string]string{}
		for a, s := range o {
			wantRows[a] = string(s)
		}
		if !maps.Equal(rows, wantRows) {
			t.Errorf("account rows (account: status)\n%v\nwant\n%v", rows, wantRows)
		}
		for account, shows := range map[string][]string{
			member(2): {"permission_gap", "ce:GetCostAndUsage in us-east-1: denied"},
			member(4): {"all_actions", "AdministratorAccess", "write_access"},
			member(5): {"external_id_mismatch", "sts:AssumeRole: denied"},
		} {
			row := strings.Join(texts(t, p, `table.accounts tr[data-account="`+account+`"]`), "")
			for _, s := range shows {
				if !strings.Contains(row, s) {
					t.Errorf("the row of %s lacks %q:\n%s", account, s, row)
				}
			}
		}
		if got := attrs(t, p, "table.timeline tr[data-event]", "data-event"); !slices.Equal(got, timeline) {
			t.Errorf("timeline %q, want %q", got, timeline)
		}
		if got := strings.Join(texts(t, p, `table.timeline tr[data-event="verification.drifted"]`), ""); !strings.Contains(got, member(6)+" verified → gaps") {
			t.Errorf("the drift's timeline entry %q does not say %s went from verified to gaps", got, member(6))
		}
		if *screenshots {
			if err := p.Screenshot(ctx, filepath.Join(shots, "customer.png"), screenshotWidth); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// httpGet returns the status of a GET of url with the Authorization
// header auth (none if empty).
func httpGet(t *testing.T, url, auth string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func texts(t *testing.T, p *browser.Page, selector string) []string {
	t.Helper()
	got, err := p.Texts(t.Context(), selector)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func attrs(t *testing.T, p *browser.Page, selector, attr string) []string {
	t.Helper()
	got, err := p.Attrs(t.Context(), selector, attr)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// zip pairs keys with values, failing on a repeated key.
func zip(t *testing.T, keys, values []string) map[string]string {
	t.Helper()
	if len(keys) != len(values) {
		t.Fatalf("%d keys, %d values", len(keys), len(values))
	}
	m := map[string]string{}
	for i, k := range keys {
		if _, dup := m[k]; dup {
			t.Fatalf("%s is on the page twice", k)
		}
		m[k] = values[i]
	}
	return m
}

// readTiles reads the numbers of the elements matching selector, by their
// attribute attr.
func readTiles(t *testing.T, p *browser.Page, selector, attr string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for k, v := range zip(t, attrs(t, p, selector, attr), texts(t, p, selector)) {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("tile %s shows %q, not a number", k, v)
		}
		out[k] = n
	}
	return out
}
