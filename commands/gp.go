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
// GP named by its practice code) up to date (support or an operator). The
// rows go in chunks of importChunkSize, as CQC's records do (ImportCQC):
// the chunk's organisations are read in one go, each row is decided on the
// state the rows before it left, and the chunk's events are appended in one
// atomic AppendMany at the versions read; when an organisation changed under
// the chunk, the chunk is imported again row by row, each row on its own
// with retries. A refused row is counted and the import goes on. It stops
// at the first failure of the store or the context, returning what the
// chunks before it did. An identical import appends nothing.
func (a *Service) ImportGPPractices(ctx context.Context, actor Actor, rows []GPPracticeRow) (GPImportSummary, error) {
	var sum GPImportSummary
	if err := a.supportOnly(actor); err != nil {
		return sum, err
	}
	meta := actor.metadata("ImportGPPractices")
	// One correlation id for the whole import, as for CQC's.
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for start := 0; start < len(rows); start += importChunkSize {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		chunk := rows[start:min(start+importChunkSize, len(rows))]
		part, err := a.importGPChunk(ctx, meta, start, chunk)
		if redoAlone(err) {
			part, err = a.importGPAlone(ctx, meta, start, chunk)
		}
		sum.add(part)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// gpWhere names row i of a file (counting from 0) in errors: its line, or
// its number.
func gpWhere(i int, row GPPracticeRow) string {
	if where := row.Where(); where != "" {
		return where
	}
	return "row " + strconv.Itoa(i+1)
}

// importGPChunk decides a chunk of rows, the first of them row first of the
// file, on the state of their organisations, read in one go, and appends
// what they decided in one AppendMany. On an error nothing of the chunk was
// written and its summary is empty; after one that redoAlone accepts the
// chunk can go again row by row.
func (a *Service) importGPChunk(ctx context.Context, meta eventstore.Metadata, first int, rows []GPPracticeRow) (GPImportSummary, error) {
	var sum GPImportSummary
	// A row is checked before a stream is named after its code.
	cleaned := make([]location.GPPractice, len(rows))
	invalid := make([]error, len(rows))
	var streams []string
	for i, row := range rows {
		if cleaned[i], invalid[i] = row.Cleaned(); invalid[i] == nil {
			streams = append(streams, location.OrganisationStream(cleaned[i].Code))
		}
	}
	read, err := a.readStreams(ctx, streams)
	if err != nil {
		return ImportSummary{}, err
	}
	orgs := map[string]location.Organisation{}
	version := map[string]int64{} // as read
	var out chunkAppend
	outcomes := make([]string, len(rows))
	for i, p := range cleaned {
		where := gpWhere(first+i, rows[i])
		if invalid[i] != nil {
			sum.reject(where, invalid[i])
			continue
		}
		stream := location.OrganisationStream(p.Code)
		o, ok := orgs[stream]
		if !ok {
			if o, err = foldOrganisation(o, stream, read[stream]); err != nil {
				return ImportSummary{}, fmt.Errorf("%s: read %s: %w", where, stream, err)
			}
			version[stream] = o.Version
		}
		evs, err := location.DecideGPPractice(o, p)
		if err != nil {
			if !refusedRecord(err) {
				return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
			}
			sum.reject(where, err)
			continue
		}
		data, err := encode(meta, "", evs...)
		if err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		out.add(stream, version[stream], data)
		if orgs[stream], err = foldOrganisation(o, stream, pending(data)); err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		switch {
		case len(data) == 0:
			outcomes[i] = importUnchanged
		case o.Version == 0:
			outcomes[i] = importCreated
		default:
			outcomes[i] = importChanged
		}
	}
	var pos int64
	if len(out.reqs) > 0 {
		res, err := a.store.AppendMany(ctx, out.reqs)
		if err != nil {
			return ImportSummary{}, fmt.Errorf("%s to %s: %w", gpWhere(first, rows[0]), gpWhere(first+len(rows)-1, rows[len(rows)-1]), err)
		}
		pos = lastPosition(res)
	}
	for _, o := range outcomes {
		if o != "" {
			sum.tally(o, 0)
		}
	}
	sum.Position = pos
	return sum, nil
}

// importGPAlone imports a chunk of rows one by one, each decided and
// appended on its own at the version it reads, with retries.
func (a *Service) importGPAlone(ctx context.Context, meta eventstore.Metadata, first int, rows []GPPracticeRow) (GPImportSummary, error) {
	var sum GPImportSummary
	for i, row := range rows {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		where := gpWhere(first+i, row)
		outcome, pos, err := a.importGPPractice(ctx, meta, row)
		if err != nil {
			if !refusedRecord(err) {
				return sum, fmt.Errorf("%s: %w", where, err)
			}
			sum.reject(where, err)
			continue
		}
		sum.tally(outcome, pos)
	}
	return sum, nil
}

// importGPPractice reads, decides and appends one row on its own, deciding
// again when it loses a race (importGPAlone).
func (a *Service) importGPPractice(ctx context.Context, meta eventstore.Metadata, row GPPracticeRow) (string, int64, error) {
	// The row is checked before a stream is named after its code.
	p, err := row.Cleaned()
	if err != nil {
		return "", 0, err
	}
	code, err := location.ParseID(p.Code)
	if err != nil {
		return "", 0, err
	}
	outcome, pos := "", int64(0)
	err = retry(ctx, func() error {
		o, err := a.loadOrganisation(ctx, code)
		if err != nil {
			return err
		}
		evs, err := location.DecideGPPractice(o, p)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			outcome = importUnchanged
			return nil
		}
		data, err := encode(meta, "", evs...)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, code.OrganisationStream(), expect(o.Version), data...)
		if err != nil {
			return err
		}
		outcome, pos = importChanged, res.LastPosition()
		if o.Version == 0 {
			outcome = importCreated
		}
		return nil
	})
	return outcome, pos, err
}
