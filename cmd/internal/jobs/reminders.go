// Package jobs holds the scheduled work that capacityd runs in the
// background and capacityctl runs on demand: processes that find their
// candidates through a read model and then act through commands, which
// decide again from the event log.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/queries"
)

// reminderHorizon is how far ahead the job looks: the earliest reminder is
// 14 days before expiry.
const reminderHorizon = 14 * 24 * time.Hour

// PasswordReminders records the password-expiry reminders due now (14, 7
// and 1 days before expiry); the mail outbox sends them. A reminder is
// recorded once per password and day count, so running the job again, or
// on two servers, sends nothing twice. It returns how many it recorded.
func PasswordReminders(ctx context.Context, q queries.Service, a *commands.Service, now time.Time, logger *slog.Logger) (int, error) {
	// A minute more than the horizon: the query is strict, the reminder
	// rule is not, and the command decides again for each candidate.
	ids, err := q.PasswordsExpiringBefore(ctx, now.Add(reminderHorizon+time.Minute))
	if err != nil {
		return 0, fmt.Errorf("find expiring passwords: %w", err)
	}
	actor := commands.System("password-reminders")
	sent := 0
	var errs []error
	for _, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("user id %q: %w", s, err))
			continue
		}
		ok, err := a.RemindPasswordExpiry(ctx, actor, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("remind %s: %w", id, err))
			continue
		}
		if ok {
			sent++
		}
	}
	if logger != nil {
		logger.Info("password expiry reminders", "candidates", len(ids), "recorded", sent, "failed", len(errs))
	}
	return sent, errors.Join(errs...)
}

// Daily runs fn at start+delay and then every interval until ctx is done,
// logging its errors.
func Daily(ctx context.Context, name string, delay, interval time.Duration, logger *slog.Logger, fn func(ctx context.Context) error) {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			logger.Error("scheduled job failed", "job", name, "err", err)
		}
		timer.Reset(interval)
	}
}
