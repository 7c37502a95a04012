package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// jsEnabledSnippet is the design system's one inline script (its
// template.njk): it marks the body before the page paints, so that
// components styled for JavaScript do not jump. The CSP allows it by its
// hash, and nothing else inline.
const jsEnabledSnippet = `document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' nhsuk-frontend-supported' : '');`

// contentSecurityPolicy allows the site's own files and the snippet above,
// no other script, style or host: no 'unsafe-inline', no framing, forms
// post only here. The design system's CSS names its Frutiger fonts on
// assets.nhs.uk; they are not allowed, and pages fall back to Arial, as the
// design system intends when the font is not licensed.
func contentSecurityPolicy() string {
	sum := sha256.Sum256([]byte(jsEnabledSnippet))
	return "default-src 'none'; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// securityHeaders sets the headers of every answer, pages and assets.
func (h *Handler) securityHeaders(next http.Handler) http.Handler {
	csp := contentSecurityPolicy()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", csp)
		hdr.Set("X-Content-Type-Options", "nosniff")
		// The set-password page's address holds its link's token: no
		// address goes anywhere in a Referer.
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil || h.secureCookies {
			hdr.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}
