package onboarding

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/params"
)

// FuzzParseConfig: custom-resource properties come from outside. Parsing
// never panics, an accepted configuration satisfies every rule, and no
// error message repeats the external ID.
func FuzzParseConfig(f *testing.F) {
	seed, _ := json.Marshal(verificationProps())
	f.Add(seed)
	f.Add([]byte(`{"ExternalId": 5, "InventoryRegions": "us-east-1,,eu-west-1"}`))
	f.Add([]byte(`{"OrganizationalUnitIds": [null, "ou-ab12-cdef3456"], "LogGroupNames": {"a": 1}}`))
	settings, err := LoadSettings(env(), false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var props map[string]any
		if json.Unmarshal(data, &props) != nil {
			return
		}
		c, err := ParseConfig(props, settings, ParseOptions{DefaultRegion: "us-east-1"})
		if err != nil {
			ext, _ := props[params.ExternalID.Name].(string)
			others := map[string]any{}
			for k, v := range props {
				if k != params.ExternalID.Name {
					others[k] = v
				}
			}
			rest, _ := json.Marshal(others)
			// Only a value that appears nowhere else can be told apart.
			if len(ext) >= 8 && !strings.Contains(string(rest), ext) && strings.Contains(err.Error(), ext) {
				t.Fatalf("error repeats the external ID: %v", err)
			}
			return
		}
		if params.ExternalID.Validate(c.ExternalID) != nil || params.CURBucketName.Validate(c.CURBucket) != nil ||
			params.InventoryRegions.ValidateList(c.Regions) != nil || params.LogGroupNames.ValidateList(c.LogGroups) != nil {
			t.Fatalf("accepted an invalid configuration: %+v", c)
		}
		if checkCallbackURL(c.CallbackURL, false) != nil {
			t.Fatalf("accepted callback URL %q", c.CallbackURL)
		}
		if _, err := ParsePreflight(props); err != nil && c.CURBucket == "" {
			t.Fatalf("preflight and verification disagree about the bucket")
		}
	})
}
