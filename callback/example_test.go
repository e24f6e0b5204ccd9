package callback_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/rolecall/rolecall/callback"
)

// A vendor's handler for callbacks: read the body as it came, verify, and
// answer so that the sender retries only what is worth retrying.
func ExampleVerifier() {
	verifier, err := callback.NewVerifier(callback.VerifierConfig{
		// The secret issued to this customer; during a rotation, both.
		Secrets: strings.Fields(os.Getenv("ROLECALL_CALLBACK_SECRET")),
		// The audience in your vendor profile (by default your callback host).
		Audience: "hooks.vendor.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	http.HandleFunc("POST /hooks/rolecall", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		msg, err := verifier.Verify(r.Context(), r.Header, body)
		var replay *callback.ReplayError
		switch {
		case errors.As(err, &replay):
			// Authentic, already accepted: a re-delivery. Answer 2xx if you
			// stored replay.Message.ID; 409 if it is still being processed.
			w.WriteHeader(http.StatusOK)
			return
		case errors.Is(err, callback.ErrSTSUnavailable):
			http.Error(w, err.Error(), http.StatusServiceUnavailable) // the sender retries
			return
		case errors.Is(err, callback.ErrInvalidPayload):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}

		p := msg.Payload
		// The management account is proven; the member accounts in
		// msg.AssertedAccounts are the management account's word until
		// you assume their roles with the external ID.
		if err := store(r, p); err != nil {
			_ = verifier.Forget(r.Context(), msg.ID) // let the retry in
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		fmt.Printf("%s %s: %d accounts\n", p.Event, p.ManagementAccountID, len(p.Accounts))
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(":8443", nil))
}

func store(*http.Request, callback.Payload) error { return nil }

// The id of a callback depends only on the logical event: a retry, or the
// same roles listed in another order, keeps it.
func ExampleEventID() {
	stack := "arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall/1f2e3d4c-5b6a-4789-9abc-def012345678"
	a := "arn:aws:iam::123456789012:role/VendorReadOnly"
	b := "arn:aws:iam::210987654321:role/VendorReadOnly"

	first := callback.EventID(callback.EventOnboardingCreated, stack, "request-1", []string{a, b})
	retry := callback.EventID(callback.EventOnboardingCreated, stack, "request-1", []string{b, a})
	fewer := callback.EventID(callback.EventOnboardingCreated, stack, "request-1", []string{a})
	fmt.Println(first == retry, first == fewer)
	// Output: true false
}
