package emulatortest

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/emulator"
)

// StartWithRecordedFakes starts a moto server for t, as Start does, and a
// recorded-response front for it (emulator.RecordedFakes), both stopped
// when t ends. Only a test whose name says "RecordedFake" may use it: the
// house rule allows recorded responses only where moto lacks an API, and
// the name must say so. StartWithRecordedFakes fails t otherwise.
func StartWithRecordedFakes(t testing.TB) (*emulator.Server, *emulator.RecordedFakes) {
	t.Helper()
	if !strings.Contains(t.Name(), "RecordedFake") {
		t.Fatalf("test %s uses recorded-response fakes, so its name must contain \"RecordedFake\"", t.Name())
	}
	srv := Start(t)
	fakes, err := srv.StartRecordedFakes(t.Context())
	if err != nil {
		t.Fatalf("start recorded fakes: %v", err)
	}
	t.Cleanup(func() {
		if err := fakes.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return srv, fakes
}
