package httpapi

import "net/http"

// APIContentSecurityPolicy is the policy of JSON (and download) answers:
// they are never rendered as a page, so they may load nothing and be
// framed by nobody.
const APIContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

// hstsValue asks browsers to use only HTTPS for a year, for the API and
// the pages alike (one host, one policy). It leaves out includeSubDomains:
// that would cover every host under the name the service is deployed at,
// which the service does not know or own, and could not be withdrawn for a
// year; a domain's owner who wants it sets it at the proxy.
const hstsValue = "max-age=31536000"

// SecurityHeaders are the response headers every answer of a port carries
// (OWASP ASVS 14.4, 8.2.1): the one middleware of both ports. The JSON API
// uses it with APIContentSecurityPolicy; the pages (cmd/capacityd/web)
// wrap their handler with their own policy (scripts and styles from
// 'self').
//
// The headers are set before the handler runs, so a handler that must
// answer otherwise (a content-hashed static file that may be cached)
// overrides one by setting it again.
type SecurityHeaders struct {
	// ContentSecurityPolicy is required.
	ContentSecurityPolicy string
	// ReferrerPolicy defaults to no-referrer.
	ReferrerPolicy string
	// CacheControl defaults to no-store: answers hold personal data and
	// sessions' views, which no browser or proxy cache may keep.
	CacheControl string
	// AssumeTLS sends Strict-Transport-Security on plain HTTP requests
	// too, for a server behind a TLS-terminating proxy (-secure-cookies).
	// Otherwise it goes only on requests that arrived over TLS (browsers
	// ignore it on plain HTTP anyway).
	AssumeTLS bool
}

// Wrap returns next with the headers set on every answer.
func (h SecurityHeaders) Wrap(next http.Handler) http.Handler {
	referrer, cache := h.ReferrerPolicy, h.CacheControl
	if referrer == "" {
		referrer = "no-referrer"
	}
	if cache == "" {
		cache = "no-store"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", h.ContentSecurityPolicy)
		hd.Set("Cache-Control", cache)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", referrer)
		// No page of another origin that opens one of ours (or that one of
		// ours opens) gets a handle on its window.
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil || h.AssumeTLS {
			hd.Set("Strict-Transport-Security", hstsValue)
		}
		next.ServeHTTP(w, r)
	})
}
