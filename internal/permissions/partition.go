package permissions

import (
	"slices"
	"strings"
)

// unavailable lists, per AWS partition, the services of the catalog AWS
// does not offer there, and why. Their statements are left out of that
// partition's templates, and the verifier does not probe them. As AWS's
// regional service lists describe them when this was written; a service
// AWS adds to a partition later is enabled by removing it here.
var unavailable = map[string]map[string]string{
	"aws-us-gov": {
		// GovCloud accounts are billed through their associated standard
		// account: Cost Explorer, the Cost & Usage Report service, Data
		// Exports and the Price List API answer there, not in GovCloud.
		"ce":               "Cost Explorer is not offered in GovCloud; costs are read in the associated standard account",
		"cur":              "Cost & Usage Reports are set up in the associated standard account",
		"bcm-data-exports": "Data Exports is not offered in GovCloud",
		"pricing":          "the Price List API is not offered in GovCloud",
	},
	"aws-cn": {
		"bedrock":          "Amazon Bedrock is not offered in the China regions",
		"bcm-data-exports": "Data Exports is not offered in the China regions (legacy Cost & Usage Reports are)",
	},
}

// Unavailable returns the services the catalog grants that AWS does not
// offer in a partition, with why, sorted by service.
func Unavailable(partition string) [][2]string {
	var out [][2]string
	for svc, why := range unavailable[partition] {
		out = append(out, [2]string{svc, why})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// AvailableIn reports whether every action of s is of a service the
// partition offers.
func AvailableIn(s Statement, partition string) bool { return availableIn(s, partition) }

func availableIn(s Statement, partition string) bool {
	gone := unavailable[partition]
	for _, a := range s.Actions {
		svc, _, _ := strings.Cut(a, ":")
		if _, ok := gone[svc]; ok {
			return false
		}
	}
	return true
}
