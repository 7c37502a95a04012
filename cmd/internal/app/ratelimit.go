package app

import "github.com/capacitytracker/capacity/commands/ratelimit"

// NewLimiter keeps the rate limit counters in the backend's database, so
// that every server on it shares them.
func (b *Backend) NewLimiter() *ratelimit.Limiter {
	if b.Kind == KindPostgres {
		return ratelimit.NewPostgres(b.pool)
	}
	return ratelimit.NewSQLite(b.sqlite)
}
