package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>t</title>
<style>body { margin: 0 } div { height: 900px }</style></head>
<body>
<ul><li data-n="1">  one </li><li data-n="2">two
</li><li>three</li></ul>
<p id="who">%s</p>
<div></div>
</body></html>`

// start starts a browser for t; a missing Chromium fails the test.
func start(t *testing.T) *Browser {
	t.Helper()
	b, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func TestPageReadsTheDOMWithTheHeadersGiven(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
		case "/private":
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, testPage, r.Header.Get("Authorization"))
	}))
	defer ts.Close()
	b := start(t)
	ctx := t.Context()

	p, err := b.Open(ctx, ts.URL+"/", map[string]string{"Authorization": "Bearer t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, err := p.Texts(ctx, "li"); err != nil || !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("Texts(li) = %q, %v; want one two three, trimmed", got, err)
	}
	if got, err := p.Texts(ctx, "#who"); err != nil || !slices.Equal(got, []string{"Bearer t0ken"}) {
		t.Errorf("the page saw Authorization %q, %v; want the header given", got, err)
	}
	if got, err := p.Texts(ctx, "table"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Texts of no match = %#v, %v; want an empty list", got, err)
	}
	if got, err := p.Attrs(ctx, "li[data-n]", "data-n"); err != nil || !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("Attrs(li[data-n], data-n) = %q, %v", got, err)
	}
	if _, err := p.Attrs(ctx, "li", "data-n"); err == nil {
		t.Error("Attrs of an element without the attribute: no error")
	}
	if _, err := p.Texts(ctx, "li[data-n="); err == nil {
		t.Error("Texts of an invalid selector: no error")
	}

	path := filepath.Join(t.TempDir(), "page.png")
	if err := p.Screenshot(ctx, path, 640); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	// The page is taller than any viewport the browser starts with: the
	// screenshot holds all of it.
	if bounds := img.Bounds(); bounds.Dx() != 640 || bounds.Dy() < 900 {
		t.Errorf("screenshot is %dx%d; want 640 wide and the whole page (over 900 tall)", bounds.Dx(), bounds.Dy())
	}

	if _, err := b.Open(ctx, ts.URL+"/missing", nil); err == nil || !strings.Contains(err.Error(), "answered 404") {
		t.Errorf("opening a page that answers 404: %v; want an error saying so", err)
	}
	// A basic-auth challenge is an error too, not a prompt to wait on
	// (Chromium reports it as net::ERR_INVALID_AUTH_CREDENTIALS).
	if _, err := b.Open(ctx, ts.URL+"/private", nil); err == nil {
		t.Error("opening a page that answers 401 with a basic-auth challenge: no error")
	}
}

func TestCallsEndWithTheirContext(t *testing.T) {
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(block)
	b := start(t)

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := b.Open(ctx, ts.URL, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("opening a page that never answers: %v; want the deadline", err)
	}
	// The browser is still usable.
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<p>ok</p>")
	}))
	defer fast.Close()
	p, err := b.Open(t.Context(), fast.URL, nil)
	if err != nil {
		t.Fatalf("after a timed-out page: %v", err)
	}
	defer p.Close()
	if got, err := p.Texts(t.Context(), "p"); err != nil || !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("Texts(p) = %q, %v", got, err)
	}
	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	if _, err := p.Texts(done, "p"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Texts with a cancelled context: %v; want context.Canceled", err)
	}
}

func TestCloseRemovesTheProfile(t *testing.T) {
	b, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.dataDir); err != nil {
		t.Fatalf("the profile directory while running: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the profile directory %s after Close: %v; want it gone", b.dataDir, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

func TestPathSaysHowToInstall(t *testing.T) {
	t.Setenv(EnvChromium, filepath.Join(t.TempDir(), "no-such-chromium"))
	if _, err := Path(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "make chromium") {
		t.Errorf("Path with $%s pointing nowhere: %v", EnvChromium, err)
	}
	t.Setenv(EnvChromium, "")
	t.Setenv("PATH", t.TempDir())
	_, err := Path()
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "run make chromium") {
		t.Errorf("Path with no Chromium on $PATH: %v; want ErrNotFound saying run make chromium", err)
	}
	if _, err := Start(t.Context()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start with no Chromium: %v; want ErrNotFound", err)
	}
}

func TestStartEndsWithItsContext(t *testing.T) {
	// A "browser" that never answers.
	hang := filepath.Join(t.TempDir(), "chromium")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	t.Setenv(EnvChromium, hang)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start of a browser that never answers: %v; want the deadline", err)
	}
}
