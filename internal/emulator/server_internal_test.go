package emulator

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLaunchReportsPortInUseWhenAnotherServerHoldsThePort holds moto's port with a
// server that answers moto's readiness probe, as another moto started at
// the same moment could: launch must not take it for its own.
func TestLaunchReportsPortInUseWhenAnotherServerHoldsThePort(t *testing.T) {
	argv, err := motoCommand("")
	if err != nil {
		t.Fatal(err)
	}
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	impostor.Listener = l
	impostor.Start()
	defer impostor.Close()

	s, err := launch(t.Context(), argv, l.Addr().(*net.TCPAddr).Port, Options{})
	if err == nil {
		_ = s.Stop()
		t.Fatal("launch succeeded on a port another server holds")
	}
	if !errors.Is(err, errPortInUse) {
		t.Fatalf("launch: %v, want errPortInUse", err)
	}
}
