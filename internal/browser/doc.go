// Package browser drives a headless Chromium through the DevTools protocol
// (github.com/chromedp/chromedp), so tests can read a server-rendered page
// as a browser lays it out and take screenshots of it.
//
// It is small on purpose: start a browser, open a page with extra request
// headers (an Authorization header), read text and attributes by CSS
// selector, write a full-page PNG. Every call is bounded by its context;
// a browser or a tab whose call ran out of time is torn down, never left
// hanging.
package browser
