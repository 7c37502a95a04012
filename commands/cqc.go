package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// ImportSummary counts what an import did with its records: new to the
// tracker, brought up to date, already up to date, and refused, each with
// its reason in Errors ("index 3: location 1-123456789: ...").
type ImportSummary struct {
	Created   int      `json:"created"`
	Changed   int      `json:"changed"`
	Unchanged int      `json:"unchanged"`
	Rejected  int      `json:"rejected"`
	Errors    []string `json:"errors,omitempty"`
	Position  int64    `json:"position"` // of the last event appended, 0 if none
}

// CQCImportSummary is the summary of a CQC import: locations (or their
// organisations) created, changed, unchanged and refused.
type CQCImportSummary = ImportSummary

// Outcomes of one CQC record.
const (
	cqcCreated   = "created"
	cqcChanged   = "changed"
	cqcUnchanged = "unchanged"
)

// ImportCQC brings each record's location, and the organisation of its
// provider, up to date with CQC's data (support or an operator). Each
// record is decided and appended on its own, both streams at once at the
// versions read: a refused record is counted and the import goes on. It
// stops at the first failure of the store or the context, returning what
// it did until then. An identical import appends nothing.
func (a *Accounts) ImportCQC(ctx context.Context, actor Actor, recs []location.CQCRecord) (CQCImportSummary, error) {
	var sum CQCImportSummary
	if err := a.supportOnly(actor); err != nil {
		return sum, err
	}
	meta := actor.metadata("ImportCQC")
	// One correlation id for the whole import: the audit trail can show
	// everything one import changed.
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		rec = rec.Normalised()
		outcome, pos, err := a.importCQCRecord(ctx, meta, rec)
		if err != nil {
			where := "location " + rec.LocationID
			if rec.Origin != "" {
				where = rec.Origin + ": " + where
			}
			if !refusedRecord(err) {
				return sum, fmt.Errorf("%s: %w", where, err)
			}
			sum.Rejected++
			sum.Errors = append(sum.Errors, where+": "+reason(err))
			continue
		}
		switch outcome {
		case cqcCreated:
			sum.Created++
		case cqcChanged:
			sum.Changed++
		default:
			sum.Unchanged++
		}
		sum.Position = max(sum.Position, pos)
	}
	return sum, nil
}

func (a *Accounts) importCQCRecord(ctx context.Context, meta eventstore.Metadata, rec location.CQCRecord) (string, int64, error) {
	// The decision checks the ids before any stream is named after them.
	if err := rec.Validate(); err != nil {
		return "", 0, err
	}
	outcome, pos := "", int64(0)
	err := retry(ctx, func() error {
		l, err := a.loadLocation(ctx, rec.LocationID)
		if err != nil {
			return err
		}
		locEvs, err := location.DecideCQCImport(l, rec)
		if err != nil {
			return err
		}
		o, err := a.loadOrganisation(ctx, rec.ProviderID)
		if err != nil {
			return err
		}
		orgEvs := location.DecideCQCProvider(o, rec)
		// The organisation first, so that the read models know it when
		// they meet its location.
		var reqs []eventstore.AppendRequest
		for _, part := range []struct {
			stream  string
			version int64
			evs     []any
		}{
			{location.OrganisationStream(rec.ProviderID), o.Version, orgEvs},
			{location.LocationStream(rec.LocationID), l.Version, locEvs},
		} {
			if len(part.evs) == 0 {
				continue
			}
			data, err := encode(meta, "", part.evs...)
			if err != nil {
				return err
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: part.stream, Expected: expect(part.version), Events: data})
		}
		if len(reqs) == 0 {
			outcome = cqcUnchanged
			return nil
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		outcome, pos = cqcChanged, lastPosition(res)
		if l.Version == 0 {
			outcome = cqcCreated
		}
		return nil
	})
	return outcome, pos, err
}

// refusedRecord tells an error that refuses one record (the import goes
// on) from a failure of the store or the context (it stops).
func refusedRecord(err error) bool {
	var (
		v *domain.ValidationError
		r *domain.RuleError
		c *domain.ConflictError
	)
	return errors.As(err, &v) || errors.As(err, &r) || errors.As(err, &c) ||
		// Still racing after the retries: another writer keeps
		// changing the location.
		errors.Is(err, eventstore.ErrWrongExpectedVersion) ||
		errors.Is(err, eventstore.ErrEventTooLarge) || errors.Is(err, eventstore.ErrInvalidEvent)
}

// reason is an error as one line for the operator.
func reason(err error) string {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		parts := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}
