// Package receiver is the vendor-side reference receiver for rolecall
// callbacks: an http.Handler that verifies each callback with
// callback.Verifier, merges it into one JSON file per organization
// (Store), and prints a one-line summary per event.
//
// It answers 2xx only once a callback is verified and stored:
//
//	200  stored, a re-delivery of a stored event (not processed again), or
//	     an event older than the stored state (recorded, not applied)
//	400  a signed body that is not a valid payload
//	401  a bad or missing signature, timestamp or identity proof
//	403  an organization already stored under another management account
//	405  not a POST
//	409  an id verified before but not stored (still in flight)
//	413  a body larger than Config.MaxBodyBytes
//	500  the receiver could not store it; the id is released for the retry
//	503  STS could not be asked; the sender retries
//
// Senders retry 5xx, 408 and 429 only, so every answer in 4xx is final.
//
// cmd/rolecall-receiver runs it as a server (Run); the local demo runs it in
// process with New and reads results with Store.Get.
package receiver
