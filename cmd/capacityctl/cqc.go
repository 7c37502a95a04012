package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"unicode"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
)

const cqcImportUsage = `cqc import FILE

FILE is either a JSON array of the CQC API's /locations/{id} records, or CQC's
care directory CSV (title lines, then the header Name, Also known as, Address, ...).
Each location is brought up to date with CQC's data; an identical import changes
nothing. Rejected records are listed ("index 3: ..." counting a JSON array's
elements from 0, "line 17: ..." for a CSV file's lines) and the others imported.
Exit code 1 when a record was rejected.`

func (c *cli) cqc(ctx context.Context, args []string) error {
	return importFile(ctx, c, args, "cqc", "FILE", cqcImportUsage, "records", parseCQCFile, (*commands.Service).ImportCQC)
}

// parseCQCFile reads either of CQC's formats: JSON when the file starts
// with "[" (after a byte order mark and white space), else the directory
// CSV.
func parseCQCFile(r io.Reader) ([]location.CQCRecord, []location.RowError, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4096)
	head = bytes.TrimLeftFunc(bytes.TrimPrefix(head, []byte("\ufeff")), unicode.IsSpace)
	if bytes.HasPrefix(head, []byte("[")) {
		return location.ParseCQCJSON(br)
	}
	return location.ParseCQCCSV(br)
}
