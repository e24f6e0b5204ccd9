package profile

import "testing"

// FuzzParse: a profile is outside input to synth; Parse must never panic
// and what it accepts must validate.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid()))
	f.Add([]byte("id: x\n"))
	f.Add([]byte("callback: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid profile: %v", err)
		}
	})
}
