package main

import (
	"io"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/commands/ratelimit"
)

func TestParseConfig_RateLimitFlags(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cfg, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.limits.limits.SignIn.String() != ratelimit.DefaultLimits().SignIn.String() || len(cfg.limits.trustedProxies) != 0 ||
		cfg.accounts.HashConcurrency != 0 {
		t.Fatalf("defaults: %+v, hash concurrency %d", cfg.limits, cfg.accounts.HashConcurrency)
	}

	cfg, err = parseConfig([]string{"-limit-upload", "off", "-password-hash-concurrency", "3"},
		env("LIMIT_SIGN_IN", "address:2/1h", "TRUSTED_PROXIES", "10.0.0.0/8", "LIMIT_UPLOAD", "account:1/1m"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.limits.limits.SignIn.String(); got != "address:2/1h" {
		t.Errorf("LIMIT_SIGN_IN: %s", got)
	}
	if len(cfg.limits.limits.Upload) != 0 {
		t.Errorf("-limit-upload off did not win over LIMIT_UPLOAD: %s", cfg.limits.limits.Upload)
	}
	if len(cfg.limits.trustedProxies) != 1 || cfg.limits.trustedProxies[0].String() != "10.0.0.0/8" || cfg.accounts.HashConcurrency != 3 {
		t.Errorf("proxies %v, hash concurrency %d", cfg.limits.trustedProxies, cfg.accounts.HashConcurrency)
	}

	for _, args := range [][]string{
		{"-limit-sign-in", "address:10"},
		{"-limit-registration", "ip:1/1h"},
		{"-trusted-proxies", "proxy.example.org"},
	} {
		if _, err := parseConfig(args, env(), io.Discard); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: error %v, want one naming the flag", args, err)
		}
	}
}
