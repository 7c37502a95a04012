package main

import (
	"context"

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
	return importFile(ctx, c, args, "gp", "FILE.csv", gpImportUsage, "rows", location.ParseGPPracticesCSV,
		(*commands.Service).ImportGPPractices)
}
