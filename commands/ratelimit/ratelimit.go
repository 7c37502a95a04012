// Package ratelimit limits how often a client address, or a request naming
// one account, may call an endpoint that costs the server or a third party
// something (a password hash, an email): sign-in, registration, forgotten
// password, set-password links, bulk uploads.
//
// The counters live in the database (table rate_limit_counters), so every
// server on one database shares them. They are bookkeeping, like a
// session's last-seen time: never events, never read by a projection. A
// check is one statement that increments every counter of the request and
// returns their new values; a window starts at a counter's first request
// and ends a fixed time later, when the next request starts a new one.
//
// This package must not decide anything of the domain: it only counts.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dimension is what a rule counts by.
type Dimension string

// The dimensions: the client's address, and the account a request names
// (the email of a sign-in, a registration or a forgotten password, the
// user of a set-password link or an upload).
const (
	Address Dimension = "address"
	Account Dimension = "account"
)

// Rule allows Limit requests per Window for each value of its dimension.
type Rule struct {
	Dimension Dimension
	Limit     int
	Window    time.Duration
}

func (r Rule) String() string {
	return fmt.Sprintf("%s:%d/%s", r.Dimension, r.Limit, formatWindow(r.Window))
}

// Policy is the rules of one kind of request; all must allow it. An empty
// policy allows everything.
type Policy []Rule

// String is the policy in the syntax ParsePolicy reads ("off" when empty).
func (p Policy) String() string {
	if len(p) == 0 {
		return "off"
	}
	parts := make([]string, len(p))
	for i, r := range p {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParsePolicy reads rules separated by commas, each
// "<dimension>:<limit>/<window>", e.g. "address:10/1m,account:10/15m";
// the window is a Go duration ("1m", "15m", "24h"). "off" (or nothing) is
// the empty policy.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return nil, nil
	}
	var p Policy
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		dim, rest, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("rate limit %q: want <address|account>:<limit>/<window>", part)
		}
		r := Rule{Dimension: Dimension(strings.TrimSpace(dim))}
		if r.Dimension != Address && r.Dimension != Account {
			return nil, fmt.Errorf("rate limit %q: dimension must be address or account", part)
		}
		n, w, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, fmt.Errorf("rate limit %q: want <limit>/<window>, e.g. 10/1m", part)
		}
		limit, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || limit < 1 {
			return nil, fmt.Errorf("rate limit %q: the limit must be a positive integer", part)
		}
		window, err := time.ParseDuration(strings.TrimSpace(w))
		if err != nil || window < time.Second {
			return nil, fmt.Errorf("rate limit %q: the window must be a duration of at least 1s", part)
		}
		r.Limit, r.Window = limit, window
		if slices.ContainsFunc(p, func(o Rule) bool { return o.Dimension == r.Dimension && o.Window == r.Window }) {
			return nil, fmt.Errorf("rate limit %q: two rules of one dimension need different windows", part)
		}
		p = append(p, r)
	}
	return p, nil
}

func formatWindow(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Decision is the outcome of a check.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until every refusing rule's window ends (0
	// when allowed).
	RetryAfter time.Duration
}

// counterDB runs the counter statements on one backend.
type counterDB interface {
	// increment runs incrementSQL with args and returns, in the order of
	// its rows, each counter's hits and window end.
	increment(ctx context.Context, query string, args []any) ([]counted, error)
	exec(ctx context.Context, query string, args ...any) (int64, error)
}

type counted struct {
	scope     string
	hits      int64
	windowEnd int64
}

// Limiter checks requests against policies.
type Limiter struct {
	db    counterDB
	clock func() time.Time
	// refused remembers, per counter, until when it refuses: within a
	// window the count only grows, so once over the limit it stays over
	// until the window ends, and a client that keeps sending is answered
	// without a database write. Each server learns it from its own first
	// refusal, so the counts stay the shared ones.
	refusedMu sync.Mutex
	refused   map[string]int64 // scope + " " + key -> window end, Unix ms
}

// maxRefused bounds the refusals a Limiter remembers; beyond it, ended
// ones are dropped, and if none has ended new ones are not remembered
// (they are still refused, through the database).
const maxRefused = 100_000

// SetClock replaces the limiter's clock (time.Now); for tests.
func (l *Limiter) SetClock(clock func() time.Time) { l.clock = clock }

// Allow counts one request of kind (e.g. "sign-in") from address naming
// account, against every rule of the policy, and says whether all of them
// allow it. account "" (a request that names no account, or a malformed
// one) skips the account rules. Refused requests count too: a client that
// keeps trying stays refused until the window ends, never longer.
//
// An error means the database did not answer; the caller decides what a
// request may do then (capacityd refuses it: see the README).
func (l *Limiter) Allow(ctx context.Context, kind string, p Policy, address, account string) (Decision, error) {
	type row struct {
		scope, key string
		rule       Rule
	}
	rows := make([]row, 0, len(p))
	for _, r := range p {
		value := address
		if r.Dimension == Account {
			value = account
		}
		if value == "" {
			continue
		}
		rows = append(rows, row{
			scope: fmt.Sprintf("%s/%s/%ds", kind, r.Dimension, int64(r.Window/time.Second)),
			key:   digest(value),
			rule:  r,
		})
	}
	if len(rows) == 0 {
		return Decision{Allowed: true}, nil
	}
	now := l.clock().UnixMilli()
	if end := l.refusedUntil(now, func(yield func(string) bool) {
		for _, r := range rows {
			if !yield(r.scope + " " + r.key) {
				return
			}
		}
	}); end > now {
		return Decision{RetryAfter: time.Duration(end-now) * time.Millisecond}, nil
	}
	// One order for every statement, so that two of them never wait for
	// each other's row locks the other way round (PostgreSQL).
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.scope, b.scope) })
	args := make([]any, 0, 4*len(rows))
	for _, r := range rows {
		args = append(args, r.scope, r.key, now, now+r.rule.Window.Milliseconds())
	}
	got, err := l.db.increment(ctx, incrementSQL(len(rows)), args)
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", kind, err)
	}
	if len(got) != len(rows) {
		return Decision{}, fmt.Errorf("rate limit %s: %d counters answered, want %d", kind, len(got), len(rows))
	}
	d := Decision{Allowed: true}
	for _, c := range got {
		i := slices.IndexFunc(rows, func(r row) bool { return r.scope == c.scope })
		if i < 0 {
			return Decision{}, fmt.Errorf("rate limit %s: unexpected counter %s", kind, c.scope)
		}
		if c.hits <= int64(rows[i].rule.Limit) {
			continue
		}
		d.Allowed = false
		d.RetryAfter = max(d.RetryAfter, time.Duration(c.windowEnd-now)*time.Millisecond)
		l.remember(c.scope+" "+rows[i].key, c.windowEnd, now)
	}
	return d, nil
}

// refusedUntil is the latest end of a remembered refusal among the
// counters, or 0.
func (l *Limiter) refusedUntil(now int64, counters iter.Seq[string]) int64 {
	l.refusedMu.Lock()
	defer l.refusedMu.Unlock()
	var end int64
	for c := range counters {
		if e, ok := l.refused[c]; ok {
			if e <= now {
				delete(l.refused, c)
				continue
			}
			end = max(end, e)
		}
	}
	return end
}

func (l *Limiter) remember(counter string, windowEnd, now int64) {
	l.refusedMu.Lock()
	defer l.refusedMu.Unlock()
	if l.refused == nil {
		l.refused = map[string]int64{}
	}
	if len(l.refused) >= maxRefused {
		maps.DeleteFunc(l.refused, func(_ string, end int64) bool { return end <= now })
		if len(l.refused) >= maxRefused {
			return
		}
	}
	l.refused[counter] = windowEnd
}

// Sweep deletes the counters whose window has ended: they would start
// again from 1 anyway. It returns how many it deleted.
func (l *Limiter) Sweep(ctx context.Context) (int64, error) {
	n, err := l.db.exec(ctx, `DELETE FROM rate_limit_counters WHERE window_end <= ?`, l.clock().UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("sweep rate limit counters: %w", err)
	}
	return n, nil
}

// digest keys a counter by a hash of the address or account, so that the
// table holds no address in the clear, and every key has one length.
func digest(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// incrementSQL upserts n counters with one statement (both backends: ?
// placeholders, ON CONFLICT, RETURNING). A counter whose window ended
// starts a new one at 1; otherwise it counts one more. Every SET
// expression reads the row as it was before the update, on both backends.
func incrementSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO rate_limit_counters (scope, counter_key, window_start, window_end, hits) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, 1)")
	}
	b.WriteString(` ON CONFLICT (scope, counter_key) DO UPDATE SET
    hits = CASE WHEN rate_limit_counters.window_end <= excluded.window_start THEN 1 ELSE rate_limit_counters.hits + 1 END,
    window_start = CASE WHEN rate_limit_counters.window_end <= excluded.window_start THEN excluded.window_start ELSE rate_limit_counters.window_start END,
    window_end = CASE WHEN rate_limit_counters.window_end <= excluded.window_start THEN excluded.window_end ELSE rate_limit_counters.window_end END
RETURNING scope, hits, window_end`)
	return b.String()
}
