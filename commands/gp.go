package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// GPPracticeRow is a row of a GP practices file, as
// location.ParseGPPracticesCSV reads it.
type GPPracticeRow = location.GPPractice

// GPImportSummary is the summary of a GP practice import: practices new to
// the tracker, renamed or moved, already up to date, and rows refused.
type GPImportSummary = ImportSummary

// ImportGPPractices brings each row's GP practice (an organisation of type
// GP named by its practice code) up to date (support or an operator). Each
// row is decided and appended on its own, at the version of the
// organisation read: a refused row is counted and the import goes on. It
// stops at the first failure of the store or the context, returning what
// it did until then. An identical import appends nothing.
func (a *Accounts) ImportGPPractices(ctx context.Context, actor Actor, rows []GPPracticeRow) (GPImportSummary, error) {
	var sum GPImportSummary
	if err := a.supportOnly(actor); err != nil {
		return sum, err
	}
	meta := actor.metadata("ImportGPPractices")
	// One correlation id for the whole import, as for CQC's.
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for i, row := range rows {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		where := row.Where()
		if where == "" {
			where = "row " + strconv.Itoa(i+1)
		}
		outcome, pos, err := a.importGPPractice(ctx, meta, row)
		if err != nil {
			if !refusedRecord(err) {
				return sum, fmt.Errorf("%s: %w", where, err)
			}
			sum.Rejected++
			sum.Errors = append(sum.Errors, where+": "+reason(err))
			continue
		}
		switch outcome {
		case gpCreated:
			sum.Created++
		case gpChanged:
			sum.Changed++
		default:
			sum.Unchanged++
		}
		sum.Position = max(sum.Position, pos)
	}
	return sum, nil
}

// Outcomes of one GP practice row.
const (
	gpCreated   = "created"
	gpChanged   = "changed"
	gpUnchanged = "unchanged"
)

func (a *Accounts) importGPPractice(ctx context.Context, meta eventstore.Metadata, row GPPracticeRow) (string, int64, error) {
	// The row is checked before a stream is named after its code.
	p, err := row.Cleaned()
	if err != nil {
		return "", 0, err
	}
	outcome, pos := "", int64(0)
	err = retry(ctx, func() error {
		o, err := a.loadOrganisation(ctx, p.Code)
		if err != nil {
			return err
		}
		evs, err := location.DecideGPPractice(o, p)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			outcome = gpUnchanged
			return nil
		}
		data, err := encode(meta, "", evs...)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, location.OrganisationStream(p.Code), expect(o.Version), data...)
		if err != nil {
			return err
		}
		outcome, pos = gpChanged, res.LastPosition()
		if o.Version == 0 {
			outcome = gpCreated
		}
		return nil
	})
	return outcome, pos, err
}
