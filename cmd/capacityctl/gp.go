package main

import (
	"context"
	"fmt"
	"os"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
)

const gpImportUsage = `gp import FILE.csv

FILE.csv lists GP practices: a header row naming the columns code (the ODS
practice code, like A81001), name and postcode, in any case and order (other
columns are ignored), then one practice a row. Each practice becomes an
organisation of type GP, or is renamed or moved when the file says so; an
identical import changes nothing. Rejected rows are listed ("line 17: ...")
and the others imported. Exit code 1 when a row was rejected.`

func (c *cli) gp(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return usagef("gp needs a subcommand: import")
	}
	fs := c.newFlagSet("gp import", gpImportUsage)
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("gp import needs one FILE.csv")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rows, bad, err := location.ParseGPPracticesCSV(f)
	if err != nil {
		// A file that cannot be read to its end imports nothing.
		return fmt.Errorf("%s: %w (nothing imported)", rest[0], err)
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, importErr := a.ImportGPPractices(ctx, commands.System("capacityctl gp import"), rows)
	return c.reportImport(bad, sum, importErr, len(rows)+len(bad), "rows")
}
