package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
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
	if len(args) == 0 || args[0] != "import" {
		return usagef("cqc needs a subcommand: import")
	}
	fs := c.newFlagSet("cqc import", cqcImportUsage)
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("cqc import needs one FILE")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	recs, bad, err := parseCQCFile(f)
	if err != nil {
		// A file that cannot be read to its end imports nothing: a
		// truncated download must not pass for CQC's whole register.
		return fmt.Errorf("%s: %w (nothing imported)", rest[0], err)
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, importErr := a.ImportCQC(ctx, commands.System("capacityctl cqc import"), recs)
	return c.reportImport(bad, sum, importErr, len(recs)+len(bad), "records")
}

// reportImport prints an import's rejected rows (those the parser refused,
// then those the import refused) and its summary line, and returns an
// error when it stopped or refused anything, for the exit status.
func (c *cli) reportImport(bad []location.RowError, sum commands.ImportSummary, importErr error, total int, noun string) error {
	for _, e := range bad {
		fmt.Fprintln(c.stdout, e.Error())
	}
	for _, e := range sum.Errors {
		fmt.Fprintln(c.stdout, e)
	}
	rejected := len(bad) + sum.Rejected
	fmt.Fprintf(c.stdout, "%d created, %d changed, %d unchanged, %d rejected\n", sum.Created, sum.Changed, sum.Unchanged, rejected)
	if importErr != nil {
		return fmt.Errorf("import stopped: %w", importErr)
	}
	if rejected > 0 {
		return fmt.Errorf("%d of %d %s rejected", rejected, total, noun)
	}
	return nil
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
