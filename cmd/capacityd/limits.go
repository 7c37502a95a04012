package main

import (
	"flag"
	"fmt"
	"net/netip"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/commands/ratelimit"
)

// limitFlags are the flags of the rate limits, the trusted proxies and the
// bound on concurrent password hashing, as given; parse checks them.
type limitFlags struct {
	signIn, registration, passwordReset, passwordLink, upload string
	trustedProxies                                            string
}

// limitConfig is what limitFlags say.
type limitConfig struct {
	limits         ratelimit.Limits
	trustedProxies []netip.Prefix
}

// registerLimitFlags defines the flags; hashConcurrency receives
// -password-hash-concurrency.
func registerLimitFlags(fs *flag.FlagSet, getenv func(string) string, hashConcurrency *int) *limitFlags {
	d := ratelimit.DefaultLimits()
	f := &limitFlags{}
	const syntax = "comma-separated `rules` <address|account>:<limit>/<window>, or off"
	fs.StringVar(&f.signIn, "limit-sign-in", app.EnvOr(getenv, "LIMIT_SIGN_IN", d.SignIn.String()), "rate limit of POST /api/v1/sessions: "+syntax+" (env LIMIT_SIGN_IN)")
	fs.StringVar(&f.registration, "limit-registration", app.EnvOr(getenv, "LIMIT_REGISTRATION", d.Registration.String()), "rate limit of POST /api/v1/registrations: "+syntax+" (env LIMIT_REGISTRATION)")
	fs.StringVar(&f.passwordReset, "limit-password-reset", app.EnvOr(getenv, "LIMIT_PASSWORD_RESET", d.PasswordReset.String()), "rate limit of POST /api/v1/password-resets: "+syntax+" (env LIMIT_PASSWORD_RESET)")
	fs.StringVar(&f.passwordLink, "limit-password-link", app.EnvOr(getenv, "LIMIT_PASSWORD_LINK", d.PasswordLink.String()), "rate limit of POST /api/v1/password-links: "+syntax+" (env LIMIT_PASSWORD_LINK)")
	fs.StringVar(&f.upload, "limit-upload", app.EnvOr(getenv, "LIMIT_UPLOAD", d.Upload.String()), "rate limit of POST /api/v1/bulk-update (account: the uploader): "+syntax+" (env LIMIT_UPLOAD)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", getenv("TRUSTED_PROXIES"), "comma-separated `CIDRs` of proxies whose X-Forwarded-For gives the client address; empty trusts none (env TRUSTED_PROXIES)")
	fs.IntVar(hashConcurrency, "password-hash-concurrency", app.EnvInt(getenv, "PASSWORD_HASH_CONCURRENCY", 0), "argon2id hashes run at `once` at most; 0 fills the cores (GOMAXPROCS / 2 lanes), negative sets no bound (env PASSWORD_HASH_CONCURRENCY)")
	return f
}

func (f *limitFlags) parse() (limitConfig, error) {
	var c limitConfig
	for _, p := range []struct {
		name string
		text string
		dst  *ratelimit.Policy
	}{
		{"limit-sign-in", f.signIn, &c.limits.SignIn},
		{"limit-registration", f.registration, &c.limits.Registration},
		{"limit-password-reset", f.passwordReset, &c.limits.PasswordReset},
		{"limit-password-link", f.passwordLink, &c.limits.PasswordLink},
		{"limit-upload", f.upload, &c.limits.Upload},
	} {
		pol, err := ratelimit.ParsePolicy(p.text)
		if err != nil {
			return c, fmt.Errorf("-%s: %w", p.name, err)
		}
		*p.dst = pol
	}
	proxies, err := httpapi.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return c, fmt.Errorf("-trusted-proxies: %w", err)
	}
	c.trustedProxies = proxies
	return c, nil
}
