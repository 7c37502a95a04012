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

// ImportCQC brings each record's location, and the organisation of its
// provider, up to date with CQC's data (support or an operator). The
// records go in chunks of importChunkSize: the chunk's streams are read in
// one go, each record is decided on the state the records before it left
// (as if each were appended on its own), and the chunk's events are
// appended in one atomic AppendMany at the versions read. A refused record
// is counted and the import goes on. When a stream changed under the
// chunk (another writer won the race), nothing of it was written and the
// chunk is imported again record by record, each record decided and
// appended on its own with retries. It stops at the first failure of the
// store or the context, returning what the chunks before it did. An
// identical import appends nothing.
func (a *Service) ImportCQC(ctx context.Context, actor Actor, recs []location.CQCRecord) (CQCImportSummary, error) {
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
	for start := 0; start < len(recs); start += importChunkSize {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		chunk := make([]location.CQCRecord, 0, importChunkSize)
		for _, rec := range recs[start:min(start+importChunkSize, len(recs))] {
			chunk = append(chunk, rec.Normalised())
		}
		part, err := a.importCQCChunk(ctx, meta, chunk)
		if redoAlone(err) {
			part, err = a.importCQCAlone(ctx, meta, chunk)
		}
		sum.add(part)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
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

// importCQCChunk decides a chunk of normalised records on the state of
// their streams, read in one go, and appends what they decided in one
// AppendMany. On an error nothing of the chunk was written and its summary
// is empty; after one that redoAlone accepts the chunk can go again record
// by record.
func (a *Service) importCQCChunk(ctx context.Context, meta eventstore.Metadata, recs []location.CQCRecord) (CQCImportSummary, error) {
	var sum CQCImportSummary
	// The decision checks the ids before any stream is named after them.
	invalid := make([]error, len(recs))
	var streams []string
	for i, rec := range recs {
		if invalid[i] = rec.Validate(); invalid[i] != nil {
			continue
		}
		streams = append(streams, location.LocationStream(rec.LocationID), location.OrganisationStream(rec.ProviderID))
	}
	read, err := a.readStreams(ctx, streams)
	if err != nil {
		return ImportSummary{}, err
	}
	// The state of each stream the chunk touched: as read, then with the
	// events of the chunk's records so far.
	locs := map[string]location.Location{}
	orgs := map[string]location.Organisation{}
	version := map[string]int64{} // as read
	var out chunkAppend
	outcomes := make([]string, len(recs))
	for i, rec := range recs {
		where := cqcWhere(rec)
		if invalid[i] != nil {
			sum.reject(where, invalid[i])
			continue
		}
		locStream, orgStream := location.LocationStream(rec.LocationID), location.OrganisationStream(rec.ProviderID)
		l, ok := locs[locStream]
		if !ok {
			if l, err = foldLocation(l, locStream, read[locStream]); err != nil {
				return ImportSummary{}, fmt.Errorf("%s: read %s: %w", where, locStream, err)
			}
			version[locStream] = l.Version
		}
		locEvs, err := location.DecideCQCImport(l, rec)
		if err != nil {
			if !refusedRecord(err) {
				return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
			}
			sum.reject(where, err)
			continue
		}
		o, ok := orgs[orgStream]
		if !ok {
			if o, err = foldOrganisation(o, orgStream, read[orgStream]); err != nil {
				return ImportSummary{}, fmt.Errorf("%s: read %s: %w", where, orgStream, err)
			}
			version[orgStream] = o.Version
		}
		orgEvs := location.DecideCQCProvider(o, rec)
		orgData, err := encode(meta, "", orgEvs...)
		if err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		locData, err := encode(meta, "", locEvs...)
		if err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		// The organisation first, so that the read models know it when
		// they meet its location.
		out.add(orgStream, version[orgStream], orgData)
		out.add(locStream, version[locStream], locData)
		if orgs[orgStream], err = foldOrganisation(o, orgStream, pending(orgData)); err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		if locs[locStream], err = foldLocation(l, locStream, pending(locData)); err != nil {
			return ImportSummary{}, fmt.Errorf("%s: %w", where, err)
		}
		switch {
		case len(orgData)+len(locData) == 0:
			outcomes[i] = importUnchanged
		case l.Version == 0:
			outcomes[i] = importCreated
		default:
			outcomes[i] = importChanged
		}
	}
	var pos int64
	if len(out.reqs) > 0 {
		res, err := a.store.AppendMany(ctx, out.reqs)
		if err != nil {
			return ImportSummary{}, fmt.Errorf("%s to %s: %w", cqcWhere(recs[0]), cqcWhere(recs[len(recs)-1]), err)
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

// importCQCAlone imports a chunk of normalised records one by one, each
// decided and appended on its own at the versions it reads, with retries.
func (a *Service) importCQCAlone(ctx context.Context, meta eventstore.Metadata, recs []location.CQCRecord) (CQCImportSummary, error) {
	var sum CQCImportSummary
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		outcome, pos, err := a.importCQCRecord(ctx, meta, rec)
		if err != nil {
			if !refusedRecord(err) {
				return sum, fmt.Errorf("%s: %w", cqcWhere(rec), err)
			}
			sum.reject(cqcWhere(rec), err)
			continue
		}
		sum.tally(outcome, pos)
	}
	return sum, nil
}

// importCQCRecord reads, decides and appends one record on its own,
// deciding again when it loses a race (importCQCAlone).
func (a *Service) importCQCRecord(ctx context.Context, meta eventstore.Metadata, rec location.CQCRecord) (string, int64, error) {
	// The decision checks the ids before any stream is named after them.
	if err := rec.Validate(); err != nil {
		return "", 0, err
	}
	locID, err := location.ParseID(rec.LocationID)
	if err != nil {
		return "", 0, err
	}
	provID, err := location.ParseID(rec.ProviderID)
	if err != nil {
		return "", 0, err
	}
	outcome, pos := "", int64(0)
	err = retry(ctx, func() error {
		l, err := a.loadLocation(ctx, locID)
		if err != nil {
			return err
		}
		locEvs, err := location.DecideCQCImport(l, rec)
		if err != nil {
			return err
		}
		o, err := a.loadOrganisation(ctx, provID)
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
			{provID.OrganisationStream(), o.Version, orgEvs},
			{locID.LocationStream(), l.Version, locEvs},
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
			outcome = importUnchanged
			return nil
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		outcome, pos = importChanged, lastPosition(res)
		if l.Version == 0 {
			outcome = importCreated
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
