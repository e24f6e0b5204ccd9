package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the Chromium (or Chrome) binary to use instead of the
// one found on $PATH.
const EnvChromium = "ROLECALL_CHROMIUM"

// StartTimeout bounds Start, whatever its context says: a browser that
// has not answered by then is not going to.
const StartTimeout = 30 * time.Second

// closeTimeout bounds a graceful close before the process is killed.
const closeTimeout = 10 * time.Second

// maxScreenshotHeight bounds a screenshot's height: Chromium cannot
// capture a surface taller than its largest texture (16384 px).
const maxScreenshotHeight = 16384

// ErrNotFound means no Chromium was found.
var ErrNotFound = errors.New("chromium not found")

// Path returns the Chromium to run: $ROLECALL_CHROMIUM if set, else the
// first of chromium, chromium-browser and google-chrome on $PATH.
func Path() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: $%s is %q: %v; point it at a Chromium binary, or unset it and run make chromium", ErrNotFound, EnvChromium, p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no chromium, chromium-browser or google-chrome on $PATH and $%s is unset; run make chromium", ErrNotFound, EnvChromium)
}

// Browser is a headless Chromium. Its pages may be used from several
// goroutines, each page from one at a time.
type Browser struct {
	ctx         context.Context // chromedp's: holds the browser
	cancelAlloc context.CancelFunc
	dataDir     string
	started     bool

	closeOnce sync.Once
	closeErr  error
}

// Start starts a headless Chromium with a fresh profile in a temporary
// directory. ctx bounds the start only (at most StartTimeout), like
// net.Dialer's: the browser runs until Close.
func Start(ctx context.Context) (*Browser, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rolecall-chromium-")
	if err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		// Chromium's sandbox needs an unprivileged user: as root (a
		// container, CI) Chromium refuses to start with it. The pages
		// opened are the caller's own test servers, so running them
		// unsandboxed there is acceptable; as any other user the sandbox
		// stays on.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
	)
	// The browser's lifetime is Close's business, not ctx's.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	bctx, _ := chromedp.NewContext(allocCtx) // cancelled with allocCtx
	b := &Browser{ctx: bctx, cancelAlloc: cancelAlloc, dataDir: dir}

	sctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	// The first run starts the process and binds it to the context it is
	// given, so it gets bctx, and sctx aborts it from outside.
	err = within(sctx, cancelAlloc, func() error { return chromedp.Do(bctx) })
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	b.started = true
	return b, nil
}

// Close closes the browser (gracefully, else by killing it) and removes
// its profile directory. It may be called more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		if b.started {
			ctx, cancel := context.WithTimeout(b.ctx, closeTimeout)
			if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, fmt.Errorf("close chromium: %w", err))
			}
			cancel()
		}
		b.cancelAlloc() // kills what is left and waits for the process
		if err := os.RemoveAll(b.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("remove chromium's profile: %w", err))
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// Page is one tab. Use it from one goroutine at a time.
type Page struct {
	ctx context.Context // chromedp's: holds the tab
	url string
}

// Open opens url in a new tab, sending headers with every request the tab
// makes, and waits until the page has loaded. An answer other than 2xx is
// an error.
func (b *Browser) Open(ctx context.Context, url string, headers map[string]string) (*Page, error) {
	tctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{ctx: tctx, url: url}
	// Like Start: the tab lives as long as the context of its first run.
	if err := within(ctx, cancel, func() error { return chromedp.Do(tctx) }); err != nil {
		cancel()
		return nil, fmt.Errorf("open a tab for %s: %w", url, err)
	}
	h := network.Headers{}
	for k, v := range headers {
		h[k] = v
	}
	_, err := run(ctx, p, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
		return err
	}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open %s: set the headers: %w", url, err)
	}
	resp, err := run(ctx, p, chromedp.NavigateResponse(url))
	if err == nil && resp == nil {
		err = errors.New("no response")
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open %s: %w", url, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		cancel()
		return nil, fmt.Errorf("open %s: the server answered %d %s", url, resp.Status, resp.StatusText)
	}
	return p, nil
}

// Close closes the tab.
func (p *Page) Close() error {
	if err := chromedp.Cancel(p.ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close the tab of %s: %w", p.url, err)
	}
	return nil
}

// Texts returns the text content of every element matching the CSS
// selector, in document order, each trimmed of surrounding space. No
// match is an empty list, not an error.
func (p *Page) Texts(ctx context.Context, selector string) ([]string, error) {
	out, err := queryAll[string](ctx, p, selector, `e => e.textContent.trim()`)
	if err != nil {
		return nil, fmt.Errorf("text of %q on %s: %w", selector, p.url, err)
	}
	return out, nil
}

// Attrs returns attribute attr of every element matching the CSS
// selector, in document order. An element without it is an error.
func (p *Page) Attrs(ctx context.Context, selector, attr string) ([]string, error) {
	vals, err := queryAll[*string](ctx, p, selector, `e => e.getAttribute(`+jsString(attr)+`)`)
	if err != nil {
		return nil, fmt.Errorf("attribute %s of %q on %s: %w", attr, selector, p.url, err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			return nil, fmt.Errorf("attribute %s of %q on %s: match %d has no %s", attr, selector, p.url, i+1, attr)
		}
		out[i] = *v
	}
	return out, nil
}

// Screenshot lays the page out width CSS pixels wide and writes all of it,
// top to bottom (at most 16384 px), as a PNG to path.
func (p *Page) Screenshot(ctx context.Context, path string, width int) error {
	if width < 1 {
		return fmt.Errorf("screenshot of %s: width %d: want at least 1 px", p.url, width)
	}
	shoot := func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		viewport := func(h int64) error {
			_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: int64(width), Height: h, DeviceScaleFactor: 1})
			return err
		}
		// Lay out at the width with a short viewport, measure the
		// document, then make the viewport as tall as it.
		if err := viewport(600); err != nil {
			return nil, err
		}
		h, err := chromedp.Evaluate[float64](`document.documentElement.getBoundingClientRect().height`)(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("measure the page: %w", err)
		}
		height := min(max(int64(h+0.5), 1), maxScreenshotHeight)
		if err := viewport(height); err != nil {
			return nil, err
		}
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng, FromSurface: new(true)})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}
	data, err := run(ctx, p, shoot)
	if err != nil {
		return fmt.Errorf("screenshot of %s: %w", p.url, err)
	}
	// Chromium compresses for speed; these files are kept, so recompress.
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("screenshot of %s: chromium's PNG: %w", p.url, err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return fmt.Errorf("screenshot of %s: %w", p.url, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil { //nolint:gosec // G306: a screenshot, meant to be read
		return fmt.Errorf("screenshot of %s: %w", p.url, err)
	}
	return nil
}

// queryAll maps fn, a JavaScript function of an element, over the
// elements matching selector.
func queryAll[T any](ctx context.Context, p *Page, selector, fn string) ([]T, error) {
	expr := `Array.from(document.querySelectorAll(` + jsString(selector) + `), ` + fn + `)`
	out, err := run(ctx, p, chromedp.Evaluate[[]T](expr))
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// run runs a on p's tab until it is done or ctx is. The tab outlives ctx:
// only this call is cancelled.
func run[T any](ctx context.Context, p *Page, a chromedp.Action[T]) (T, error) {
	rctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	v, err := chromedp.Run(rctx, a)
	if err != nil && ctx.Err() != nil {
		var zero T
		return zero, context.Cause(ctx)
	}
	return v, err
}

// within runs f, which must return once abort is called, until it returns
// or ctx is done; then it aborts f and waits for it.
func within(ctx context.Context, abort func(), f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		abort()
		<-done //nolint:errcheck // f's error echoes the abort; ctx's cause says why
		return context.Cause(ctx)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
