package rehearsal

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/browser"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// inspectInChromium opens the vendor's page on the rehearsed organization
// in headless Chromium and checks what it shows against the vendor's
// database: the status tiles of the customers page, the customer's row,
// and on the customer's page every account and the counts by status.
func inspectInChromium(ctx context.Context, page VendorPage) error {
	b, err := browser.Start(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	auth := map[string]string{"Authorization": "Bearer " + page.Token}

	list, err := b.Open(ctx, page.BaseURL+"/", auth)
	if err != nil {
		return err
	}
	defer list.Close()
	want, err := page.DB.CustomerStatusCounts(ctx)
	if err != nil {
		return err
	}
	got, err := tiles(ctx, list, "data-count")
	if err != nil {
		return err
	}
	for _, s := range vendordb.Statuses() {
		if got[s] != want[s] {
			return fmt.Errorf("the customers page shows %d %s, the database %d (page %v, database %v)", got[s], s, want[s], got, want)
		}
	}
	orgs, err := page.DB.OrganizationsOf(ctx, page.CustomerID)
	if err != nil {
		return err
	}
	row, err := list.Attrs(ctx, `tr[data-customer="`+page.CustomerID+`"]`, "data-status")
	if err != nil {
		return err
	}
	if status := vendordb.CustomerStatus(false, orgs); len(row) != 1 || row[0] != status {
		return fmt.Errorf("the customer's row says %v, the database %s", row, status)
	}

	cp, err := b.Open(ctx, page.CustomerURL, auth)
	if err != nil {
		return err
	}
	defer cp.Close()
	o, err := page.DB.Timeline(ctx, page.OrganizationKey, 200)
	if err != nil {
		return err
	}
	accounts, err := cp.Attrs(ctx, "table.accounts tr[data-account]", "data-account")
	if err != nil {
		return err
	}
	var ids []string
	for _, a := range o.Accounts {
		ids = append(ids, a.AccountID)
	}
	if !slices.Equal(accounts, ids) {
		return fmt.Errorf("the customer's page lists %d accounts, the database %d", len(accounts), len(ids))
	}
	counts, err := tiles(ctx, cp, "data-account-count")
	if err != nil {
		return err
	}
	c := callback.CountsOf(o.Accounts)
	for status, n := range map[string]int{"verified": c.Verified, "gaps": c.Gaps, "finding": c.Finding, "unverifiable": c.Unverifiable, "unreachable": c.Unreachable} {
		if counts[status] != n {
			return fmt.Errorf("the customer's page shows %d %s accounts, the database %d", counts[status], status, n)
		}
	}
	events, err := cp.Attrs(ctx, "table.timeline tr[data-event]", "data-event")
	if err != nil {
		return err
	}
	if len(events) != len(o.Timeline) || len(events) == 0 || events[len(events)-1] != string(callback.EventOnboardingCreated) {
		return fmt.Errorf("the timeline shows %d events (oldest %v), the database %d", len(events), events[max(len(events)-1, 0):], len(o.Timeline))
	}
	return nil
}

// tiles reads the tiles named by attr: their attribute value and number.
func tiles(ctx context.Context, p *browser.Page, attr string) (map[string]int, error) {
	names, err := p.Attrs(ctx, "["+attr+"]", attr)
	if err != nil {
		return nil, err
	}
	texts, err := p.Texts(ctx, "["+attr+"]")
	if err != nil {
		return nil, err
	}
	if len(names) != len(texts) || len(names) == 0 {
		return nil, fmt.Errorf("%d tiles named by %s, %d numbers", len(names), attr, len(texts))
	}
	out := map[string]int{}
	for i, name := range names {
		n, err := strconv.Atoi(texts[i])
		if err != nil {
			return nil, fmt.Errorf("tile %s shows %q, not a number", name, texts[i])
		}
		out[name] = n
	}
	return out, nil
}
