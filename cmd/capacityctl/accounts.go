package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/queries"
)

// openAccounts opens the database and the account commands over it.
func (c *cli) openAccounts(ctx context.Context) (*app.Backend, *commands.Service, error) {
	b, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, err := b.NewCommands(ctx, commands.DefaultConfig(), c.logger)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, a, nil
}

// describe turns a command's error into a line for the operator.
func describe(err error) string {
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

func (c *cli) organisations(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usagef("organisations needs a subcommand: add")
	}
	fs := c.newFlagSet("organisations add", "organisations add --id ID --name NAME [--type TYPE]")
	var cmd location.RegisterOrganisation
	fs.StringVar(&cmd.OrganisationID, "id", "", "organisation `id` (the CQC provider id, e.g. 1-101641286)")
	fs.StringVar(&cmd.Name, "name", "", "organisation `name`")
	fs.StringVar(&cmd.Type, "type", string(location.HomeCare), "organisation `type` (care_home, home_care, ...)")
	if rest, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("organisations add takes flags only")
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := a.RegisterOrganisation(ctx, commands.System("capacityctl organisations add"), cmd)
	if err != nil {
		return errors.New(describe(err))
	}
	fmt.Fprintf(c.stdout, "organisation %s registered (position %d)\n", cmd.OrganisationID, res.Position)
	return nil
}

func (c *cli) locations(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usagef("locations needs a subcommand: add")
	}
	fs := c.newFlagSet("locations add", "locations add --id ID --organisation ORG --name NAME --postcode PC [flags]")
	var cmd location.RegisterLocation
	fs.StringVar(&cmd.LocationID, "id", "", "location `id` (the CQC location id, e.g. 1-2070347339)")
	fs.StringVar(&cmd.OrganisationID, "organisation", "", "`id` of the organisation the location belongs to")
	fs.StringVar(&cmd.Name, "name", "", "location `name`")
	fs.StringVar(&cmd.Postcode, "postcode", "", "`postcode`")
	fs.StringVar(&cmd.AddressLine1, "address", "", "first `line` of the address")
	fs.StringVar(&cmd.Town, "town", "", "`town`")
	fs.StringVar(&cmd.LocalAuthority, "local-authority", "", "local `authority`")
	fs.StringVar(&cmd.CCG, "ccg", "", "`CCG`")
	if rest, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("locations add takes flags only")
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := a.RegisterLocation(ctx, commands.System("capacityctl locations add"), cmd)
	if err != nil {
		return errors.New(describe(err))
	}
	fmt.Fprintf(c.stdout, "location %s registered (position %d)\n", cmd.LocationID, res.Position)
	return nil
}

func (c *cli) accounts(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("accounts needs a subcommand: import, create-support or password-reminders")
	}
	switch args[0] {
	case "import":
		return c.accountsImport(ctx, args[1:])
	case "create-support":
		return c.accountsCreateSupport(ctx, args[1:])
	case "password-reminders":
		return c.accountsReminders(ctx, args[1:])
	}
	return usagef("unknown accounts subcommand %q: want import, create-support or password-reminders", args[0])
}

func (c *cli) accountsCreateSupport(ctx context.Context, args []string) error {
	fs := c.newFlagSet("accounts create-support", "accounts create-support --email EMAIL --name NAME")
	email := fs.String("email", "", "the support team member's `email`")
	name := fs.String("name", "", "their full `name`")
	if rest, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("accounts create-support takes flags only")
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := a.CreateSupportUser(ctx, commands.System("capacityctl accounts create-support"), *email, *name)
	if err != nil {
		return errors.New(describe(err))
	}
	fmt.Fprintf(c.stdout, "support user %s created; a set-password link is being emailed to %s\n", res.UserID, strings.ToLower(strings.TrimSpace(*email)))
	return nil
}

// importColumns are the columns of the automatic registration file.
var importColumns = []string{"location id", "manager name", "email", "phone"}

// maxImportRows bounds one import file.
const maxImportRows = 100_000

func (c *cli) accountsImport(ctx context.Context, args []string) error {
	fs := c.newFlagSet("accounts import", "accounts import FILE.csv\n\nColumns: location id, manager name, email, phone (a header row is optional).\nEach location's registered manager becomes an active Approver and is emailed a set-password link.\nRe-running the same file changes nothing already done.")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("accounts import needs one FILE.csv")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := readImport(f)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	actor := commands.System("capacityctl accounts import")
	counts := map[string]int{}
	failed := 0
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		outcome, _, err := a.ImportManager(ctx, actor, r.ImportManager)
		if err != nil {
			failed++
			fmt.Fprintf(c.stdout, "line %d: %s: failed: %s\n", r.line, r.LocationID, describe(err))
			continue
		}
		counts[outcome]++
	}
	fmt.Fprintf(c.stdout, "%d registered, %d unchanged, %d failed\n", counts[commands.ImportRegistered], counts[commands.ImportUnchanged], failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d rows failed", failed, len(rows))
	}
	return nil
}

type importRow struct {
	line int
	account.ImportManager
}

// readImport parses the automatic registration CSV.
func readImport(r io.Reader) ([]importRow, error) {
	// Excel's "CSV UTF-8" starts with a byte order mark, header or not; it
	// is no part of the first field (and before a quote it would be a
	// parse error).
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var out []importRow
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		// The file's line, not the record's number: the reader skips
		// empty lines and a quoted field may span several.
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if isImportHeader(rec) {
				continue
			}
		}
		if len(rec) != len(importColumns) {
			return nil, fmt.Errorf("line %d: %d columns, want %d (%s)", line, len(rec), len(importColumns), strings.Join(importColumns, ", "))
		}
		if len(out) == maxImportRows {
			return nil, fmt.Errorf("more than %d rows: split the file", maxImportRows)
		}
		out = append(out, importRow{line: line, ImportManager: account.ImportManager{
			LocationID: strings.TrimSpace(rec[0]), FullName: rec[1], Email: rec[2], Phone: rec[3],
		}})
	}
	return out, nil
}

func isImportHeader(rec []string) bool {
	if len(rec) == 0 {
		return false
	}
	h := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")))
	return h == "location id" || h == "location_id" || h == "locationid"
}

func (c *cli) accountsReminders(ctx context.Context, args []string) error {
	fs := c.newFlagSet("accounts password-reminders", "accounts password-reminders")
	if rest, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("accounts password-reminders takes no arguments")
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	engine, err := b.NewEngine(c.logger)
	if err != nil {
		return err
	}
	// It runs the view only if no server does (PostgreSQL).
	engine.SetGuest()
	// The job finds its candidates in the users read model: bring it up to
	// the log's head first, whether or not a server keeps it current.
	if err := catchUp(ctx, b, engine, accounts.Users{}.Name()); err != nil {
		return err
	}
	q := queries.Service{ReadModels: projections.NewReadModels(b.ProjectionBackend()), Waiter: engine}
	n, err := jobs.PasswordReminders(ctx, q, a, time.Now(), c.logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%d password expiry reminder(s) recorded\n", n)
	return nil
}

// waitLive waits, for at most a minute, until the engine runs the named
// projection, or a capacityd node does.
func waitLive(ctx context.Context, engine *projections.Engine, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		statuses, err := engine.Status(ctx)
		if err == nil {
			for _, s := range statuses {
				if s.Name == name && (s.Running || s.Owner != "") {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("projection %s did not start: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// catchUp runs the projection engine until the named projection has
// applied the log up to its head now.
func catchUp(ctx context.Context, b *app.Backend, engine *projections.Engine, name string) error {
	head, err := b.Store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	// Live first: its tables exist then, even where the head is 0 (an
	// empty log, or PostgreSQL's gap-safe head held back by a transaction
	// of another database), which WaitFor alone would pass at once.
	err = waitLive(ctx, engine, name)
	for err == nil {
		err = engine.WaitFor(ctx, []string{name}, head)
		if !errors.Is(err, projections.ErrNotCaughtUp) || ctx.Err() != nil {
			break
		}
	}
	stop()
	if runErr := <-done; runErr != nil && !errors.Is(runErr, context.Canceled) {
		err = errors.Join(err, runErr)
	}
	if err != nil {
		return fmt.Errorf("bring the %s read model up to date: %w", name, err)
	}
	return nil
}
