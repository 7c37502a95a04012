package commands

import (
	"context"
	"errors"
	"strings"

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

// ImportCQC brings each record's location, and the organisation of its
// provider, up to date with CQC's data (support or an operator), a chunk
// of records at a time as runImport says. A refused record is counted and
// the import goes on; an identical import appends nothing.
func (a *Service) ImportCQC(ctx context.Context, actor Actor, recs []location.CQCRecord) (CQCImportSummary, error) {
	return runImport(ctx, a, actor, cqcImport, recs)
}

// cqcImport is how runImport imports CQC's records: each normalised, then
// decided on its location's and its provider's streams.
var cqcImport = importer[location.CQCRecord, cqcChecked]{
	command: "ImportCQC",
	where:   func(_ int, rec location.CQCRecord) string { return cqcWhere(rec.Normalised()) },
	check:   checkCQCRecord,
	decide:  decideCQCRecord,
}

// cqcChecked is a CQC record normalised, with its ids checked.
type cqcChecked struct {
	rec                location.CQCRecord
	locationID, provID location.ID
}

// checkCQCRecord normalises and checks a record: the decision checks the
// ids before any stream is named after them.
func checkCQCRecord(rec location.CQCRecord) (cqcChecked, []string, error) {
	c := cqcChecked{rec: rec.Normalised()}
	if err := c.rec.Validate(); err != nil {
		return c, nil, err
	}
	var err error
	if c.locationID, err = location.ParseID(c.rec.LocationID); err != nil {
		return c, nil, err
	}
	if c.provID, err = location.ParseID(c.rec.ProviderID); err != nil {
		return c, nil, err
	}
	return c, []string{c.locationID.LocationStream(), c.provID.OrganisationStream()}, nil
}

// decideCQCRecord decides a record on its location and the organisation of
// its provider. The organisation goes first, so that the read models know
// it when they meet its location.
func decideCQCRecord(s *importStreams, c cqcChecked) ([]importPart, bool, error) {
	l, err := s.location(c.locationID)
	if err != nil {
		return nil, false, err
	}
	locEvs, err := location.DecideCQCImport(l, c.rec)
	if err != nil {
		return nil, false, err
	}
	o, err := s.organisation(c.provID)
	if err != nil {
		return nil, false, err
	}
	orgEvs := location.DecideCQCProvider(o, c.rec)
	return []importPart{
		{c.provID.OrganisationStream(), orgEvs},
		{c.locationID.LocationStream(), locEvs},
	}, l.Version == 0, nil
}

// cqcWhere names a record in errors: its origin in the file and its
// location.
func cqcWhere(rec location.CQCRecord) string {
	where := "location " + rec.LocationID
	if rec.Origin != "" {
		where = rec.Origin + ": " + where
	}
	return where
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
