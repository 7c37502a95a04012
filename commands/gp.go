package commands

import (
	"context"
	"strconv"

	"github.com/capacitytracker/capacity/domain/location"
)

// GPPracticeRow is a row of a GP practices file, as
// location.ParseGPPracticesCSV reads it.
type GPPracticeRow = location.GPPractice

// GPImportSummary is the summary of a GP practice import: practices new to
// the tracker, renamed or moved, already up to date, and rows refused.
type GPImportSummary = ImportSummary

// ImportGPPractices brings each row's GP practice (an organisation of type
// GP named by its practice code) up to date (support or an operator), a
// chunk of rows at a time as runImport says, as CQC's records are
// (ImportCQC). A refused row is counted and the import goes on; an
// identical import appends nothing.
func (a *Service) ImportGPPractices(ctx context.Context, actor Actor, rows []GPPracticeRow) (GPImportSummary, error) {
	return runImport(ctx, a, actor, gpImport, rows)
}

// gpImport is how runImport imports GP practice rows: each cleaned, then
// decided on its practice's organisation stream.
var gpImport = importer[GPPracticeRow, gpChecked]{
	command: "ImportGPPractices",
	where:   gpWhere,
	check:   checkGPPractice,
	decide:  decideGPPractice,
}

// gpChecked is a GP practice row cleaned, with its code as an id.
type gpChecked struct {
	practice location.GPPractice
	code     location.ID
}

// gpWhere names row i of a file (counting from 0) in errors: its line, or
// its number.
func gpWhere(i int, row GPPracticeRow) string {
	if where := row.Where(); where != "" {
		return where
	}
	return "row " + strconv.Itoa(i+1)
}

// checkGPPractice cleans a row: it is checked before a stream is named
// after its code.
func checkGPPractice(row GPPracticeRow) (gpChecked, []string, error) {
	p, err := row.Cleaned()
	if err != nil {
		return gpChecked{}, nil, err
	}
	code, err := location.ParseID(p.Code)
	if err != nil {
		return gpChecked{}, nil, err
	}
	return gpChecked{practice: p, code: code}, []string{code.OrganisationStream()}, nil
}

// decideGPPractice decides a row on its practice's organisation.
func decideGPPractice(s *importStreams, c gpChecked) ([]importPart, bool, error) {
	o, err := s.organisation(c.code)
	if err != nil {
		return nil, false, err
	}
	evs, err := location.DecideGPPractice(o, c.practice)
	if err != nil {
		return nil, false, err
	}
	return []importPart{{c.code.OrganisationStream(), evs}}, o.Version == 0, nil
}
