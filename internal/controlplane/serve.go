package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// shutdownGrace is how long Serve lets requests in flight finish.
const shutdownGrace = 15 * time.Second

// Serve serves h on ln until ctx is done, then shuts down gracefully: it
// stops accepting, lets requests in flight finish (up to 15 seconds) and
// returns nil. With certFile and keyFile it serves TLS.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" || keyFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Rewrap seals every customer's secret and external IDs again under the
// ring's current key, where they are under another. It returns how many
// values moved, of how many. Each customer is one transaction; a failure
// leaves the customers before it done, and a rerun goes on.
func Rewrap(ctx context.Context, db *vendordb.DB, ring *vault.Keyring) (moved, total int, err error) {
	all, err := db.AllCustomers(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range all {
		_, err := db.UpdateCustomer(ctx, c.ID, func(c *vendordb.Customer) (*vendordb.Event, error) {
			for _, f := range []struct {
				v   *string
				aad string
			}{{&c.SecretSealed, aadSecret(c.ID)}, {&c.ExternalIDSealed, aadExternalID(c.ID)}, {&c.PendingExternalIDSealed, aadPendingID(c.ID)}} {
				if *f.v == "" {
					continue
				}
				total++
				next, changed, err := ring.Rewrap(*f.v, f.aad)
				if err != nil {
					return nil, fmt.Errorf("customer %s: %w", c.ID, err)
				}
				if changed {
					*f.v = next
					moved++
				}
			}
			return nil, nil
		})
		if err != nil {
			return moved, total, err
		}
	}
	return moved, total, nil
}
