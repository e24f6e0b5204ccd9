package verify

import "github.com/rolecall/rolecall/internal/permissions"

// Cost is what verifying roles asks of AWS: calls, and the calls AWS
// charges for (PaidCalls, Cost Explorer's, CostExplorerRequestUSD each).
// Every other call a verification makes is free.
type Cost struct {
	Calls     int `json:"calls"`
	PaidCalls int `json:"paid_calls"`
}

// USD is what the paid calls cost at list price.
func (c Cost) USD() float64 { return float64(c.PaidCalls) * CostExplorerRequestUSD }

// Add sums two costs.
func (c Cost) Add(o Cost) Cost {
	return Cost{Calls: c.Calls + o.Calls, PaidCalls: c.PaidCalls + o.PaidCalls}
}

// Times multiplies a cost.
func (c Cost) Times(n int) Cost { return Cost{Calls: c.Calls * n, PaidCalls: c.PaidCalls * n} }

// Plan returns what verifying r costs when it goes as planned: the role is
// assumed at the first attempt, carries exactly the inline policies the
// template gives it and no attached policy, and every answer fits one
// page. Retries, a role AWS has not propagated yet, and policies someone
// attached add calls. TestPlanIsWhatAVerificationCosts holds it to what
// the engine does.
func Plan(r Role) Cost {
	granted := permissions.GrantedServices(r.Target())
	regions := r.Regions
	if len(regions) == 0 {
		regions = []string{homeRegion(r.arn().Partition)}
	}
	c := Cost{Calls: 1} // AssumeRole
	for _, p := range probesFor(r, granted, homeRegion(r.arn().Partition), regions) {
		spec, _ := specOf(p)
		switch {
		case spec.paid && r.NoPaidProbes:
			// proven from the policies read back: no call
		case spec.paid:
			c.Calls++
			c.PaidCalls++
		default:
			c.Calls++
		}
	}
	// Write safety: list the inline policies and read each, list the
	// attached ones, and one simulation per batch of write actions.
	c.Calls += 2 + len(permissions.Policies(r.Target()))
	if n := len((&Engine{}).simulatedActions(granted)); n > 0 {
		c.Calls += (n + simulateBatch - 1) / simulateBatch
	}
	return c
}
