package rehearsal

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/rolecall/rolecall/internal/emulator"
)

// orgSpec spreads n member accounts over a small, realistic OU tree: the
// larger OUs nested, as service-managed StackSets must reach every level.
func orgSpec(n int) emulator.OrgSpec {
	share := func(pct int) int { return n * pct / 100 }
	prod, dev, sandbox := share(40), share(25), share(20)
	security := n - prod - dev - sandbox
	return emulator.OrgSpec{
		OUs: []emulator.OUSpec{
			{Name: "Workloads", OUs: []emulator.OUSpec{
				{Name: "Prod", Accounts: prod},
				{Name: "Dev", Accounts: dev},
			}},
			{Name: "Sandbox", Accounts: sandbox},
			{Name: "Security", Accounts: security},
		},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	}
}

// joinOU creates a new account and moves it into the OU at path, as an
// organization admin would when a team gets a new account.
func joinOU(ctx context.Context, admin aws.Config, org *emulator.Org, path, name string) (string, error) {
	ou, ok := org.OUByPath(path)
	if !ok {
		return "", fmt.Errorf("no OU %s", path)
	}
	client := organizations.NewFromConfig(admin)
	created, err := client.CreateAccount(ctx, &organizations.CreateAccountInput{
		AccountName: aws.String(name), Email: aws.String(name + "@example.com"),
	})
	if err != nil {
		return "", fmt.Errorf("create account %s: %w", name, err)
	}
	id := aws.ToString(created.CreateAccountStatus.AccountId)
	if _, err := client.MoveAccount(ctx, &organizations.MoveAccountInput{
		AccountId: aws.String(id), SourceParentId: aws.String(org.RootID), DestinationParentId: aws.String(ou.ID),
	}); err != nil {
		return "", fmt.Errorf("move account %s into %s: %w", id, path, err)
	}
	return id, nil
}
