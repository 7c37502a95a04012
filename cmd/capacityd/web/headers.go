package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
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

// securityHeaders wraps the port in the security headers of every answer,
// pages and assets: the API's middleware (httpapi.SecurityHeaders) with the
// pages' policy. Its Cache-Control is no-store, as pages show personal
// data and carry form tokens; the content-hashed assets set their own
// (assets.go). The set-password page's address holds its link's token, so
// the Referrer-Policy stays no-referrer.
func (h *Handler) securityHeaders(next http.Handler) http.Handler {
	return httpapi.SecurityHeaders{ContentSecurityPolicy: contentSecurityPolicy(), AssumeTLS: h.secureCookies}.Wrap(next)
}
