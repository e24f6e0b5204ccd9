package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/callback"
)

// shutdownGrace is how long Serve lets requests in flight finish.
const shutdownGrace = 15 * time.Second

// Serve serves h on ln until ctx is done, then shuts down gracefully:
// it stops accepting, lets requests in flight finish (up to 15 seconds)
// and returns nil. With certFile and keyFile it serves TLS.
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

// Options are the reference receiver's settings (cmd/rolecall-receiver's flags).
type Options struct {
	Listen   string   // address to listen on, e.g. 127.0.0.1:8080
	Path     string   // path the callbacks are POSTed to; "" means any
	Secrets  []string // whsec_ secrets; several during a rotation
	Audience string
	// Partitions are the AWS partitions whose customers are accepted (aws,
	// aws-us-gov, aws-cn), each proof checked with its partition's STS;
	// empty means aws. STSEndpoint, if set, replaces them with one
	// endpoint (a local emulator's, in demos).
	Partitions  []string
	STSEndpoint string
	STSRegion   string
	DataDir     string
	MaxBodyMiB  int64  // 0 means DefaultMaxBodyBytes
	TLSCert     string // both or neither
	TLSKey      string
}

// Run builds the verifier, store and handler from opts and serves until
// ctx is done. Summaries go to out; log says where it listens.
func Run(ctx context.Context, opts Options, out io.Writer, log *slog.Logger) error {
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return errors.New("receiver: give both a TLS certificate and key, or neither")
	}
	verifier, err := callback.NewVerifier(callback.VerifierConfig{
		Secrets:     opts.Secrets,
		Audience:    opts.Audience,
		Partitions:  opts.Partitions,
		STSEndpoint: opts.STSEndpoint,
		STSRegion:   opts.STSRegion,
	})
	if err != nil {
		return err
	}
	store, err := OpenStore(opts.DataDir)
	if err != nil {
		return err
	}
	h, err := New(Config{Verifier: verifier, Store: store, MaxBodyBytes: opts.MaxBodyMiB << 20, Out: out, Logger: log})
	if err != nil {
		return err
	}
	var handler http.Handler = h
	if opts.Path != "" {
		mux := http.NewServeMux()
		mux.Handle(opts.Path, h)
		handler = mux
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	log.Info("receiver listening", "addr", ln.Addr().String(), "path", opts.Path, "dataDir", store.Dir(),
		"audience", opts.Audience, "partitions", opts.Partitions, "stsEndpoint", opts.STSEndpoint, "tls", opts.TLSCert != "")
	return Serve(ctx, ln, handler, opts.TLSCert, opts.TLSKey)
}
