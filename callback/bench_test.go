package callback

import (
	"testing"
	"time"
)

// How long the sender and the verifier spend on the largest organizations:
// most of it is the schema check.
func BenchmarkPayload5000Accounts(b *testing.B) {
	p := testPayload(EventOnboardingCreated, 4999)
	body, err := p.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(body)), "body-bytes")
	})
	b.Run("Verify", func(b *testing.B) {
		s := newTestSigner(b, fixedClock(testTime))
		h, err := s.Sign(b.Context(), p.ID, body)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			// A fresh cache each time, so no call is a replay.
			v, err := NewVerifier(VerifierConfig{
				Secrets: []string{testSecret}, Audience: testAudience, HTTPClient: fakeSTS(testMgmt, nil),
				Now: fixedClock(testTime.Add(time.Second)), ReplayCache: NewMemoryReplayCache(1, nil),
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(b.Context(), h, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
