package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
)

// importFile runs "NAME import FILE", the imports of files (CQC's register,
// GP practices): parse reads the whole file first, then run imports its
// records as the system actor "capacityctl NAME import", and reportImport
// says what happened. noun names the file's records in the exit error.
func importFile[R any](ctx context.Context, c *cli, args []string, name, file, usage, noun string,
	parse func(io.Reader) ([]R, []location.RowError, error),
	run func(*commands.Service, context.Context, commands.Actor, []R) (commands.ImportSummary, error)) error {
	if len(args) == 0 || args[0] != "import" {
		return usagef("%s needs a subcommand: import", name)
	}
	fs := c.newFlagSet(name+" import", usage)
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("%s import needs one %s", name, file)
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	recs, bad, err := parse(f)
	if err != nil {
		// A file that cannot be read to its end imports nothing: a
		// truncated download must not pass for the whole file.
		return fmt.Errorf("%s: %w (nothing imported)", rest[0], err)
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, importErr := run(a, ctx, commands.System("capacityctl "+name+" import"), recs)
	return c.reportImport(bad, sum, importErr, len(recs)+len(bad), noun)
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
