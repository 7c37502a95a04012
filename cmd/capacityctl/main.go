// Command capacityctl is the administration tool of Capacity Tracker: it
// migrates the database, reads the event log and inspects or rebuilds
// projections. It opens the same database as capacityd (DATABASE_URL, or the
// embedded SQLite file under the data directory) through the same wiring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/migrations"
)

const usageText = `Usage: capacityctl [global flags] COMMAND [ARGS]

Commands:
  migrate                                  apply pending database migrations
  events tail [--from N] [--poll D]        follow the event log, one line per event, until Ctrl-C
  events stream ID [--as-of T] [--json]    print the events of one stream (T is RFC 3339)
  projections status                       checkpoint, head, lag and poison count of each projection
  projections rebuild NAME|--all           rebuild projections from the log into fresh tables
  organisations add --id ID --name NAME    register an organisation (support's command, for tests and set-up)
  locations add --id ID --organisation ORG --name NAME --postcode PC
                                           register a location of an organisation
  accounts import FILE.csv                 automatic registration: each location's registered manager
                                           becomes an active Approver and gets a set-password link
  accounts create-support --email E --name N
                                           give a member of the central support team an account
  accounts password-reminders              record the password-expiry reminders due now (14, 7, 1 days)
  cqc import FILE                          bring locations and their providers up to date with CQC's data
                                           (the API's location records as a JSON array, or the care directory CSV)
  gp import FILE.csv                       bring GP practices up to date with a CSV file (columns code, name, postcode)
  seed [-locations N] [-seed S] [-gp-practices N]
                                           fill an empty database with a realistic national data set (demos, benchmarks)
  replay STREAM [--as-of T | --version N] [--diff-from P] [--timeline]
                                           a stream's state, diff or timeline, folded from its events
  verify [--json]                          walk the event log and report the first event or checkpoint
                                           that does not match its hash or signature (tamper evidence)
  checkpoint                               sign a checkpoint of the event log now
  bench                                    measure the event store and projections on a scratch database

Run 'capacityctl COMMAND -h' for the flags of a command.

Global flags (each also read from the environment variable shown):
`

// globals are the flags shared by every command.
type globals struct {
	app       app.Config
	logLevel  string
	logFormat string
}

// cli carries the streams and configuration of one invocation.
type cli struct {
	g      globals
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run returns the exit code: 0 on success, 1 when the command failed, 2 for
// a usage error or a command that does not exist yet.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("capacityctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&g.app.DatabaseURL, "database-url", "", "PostgreSQL `URL` (postgres://...); empty uses the embedded SQLite database (env DATABASE_URL)")
	fs.StringVar(&g.app.DataDir, "data-dir", app.EnvOr(getenv, "DATA_DIR", app.DefaultDataDir), "`directory` of the embedded SQLite database (env DATA_DIR)")
	fs.StringVar(&g.logLevel, "log-level", app.EnvOr(getenv, "LOG_LEVEL", "warn"), "log `level`: debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&g.logFormat, "log-format", app.EnvOr(getenv, "LOG_FORMAT", app.LogFormatText), "log `format`: text or json (env LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// The URL may hold a password: it is read from the environment after
	// parsing rather than shown as the flag's default in -h.
	if !app.FlagGiven(fs, "database-url") {
		g.app.DatabaseURL = getenv("DATABASE_URL")
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if err := g.app.Validate(); err != nil {
		fmt.Fprintln(stderr, "capacityctl:", err)
		return 2
	}
	logger, err := app.NewLogger(stderr, g.logLevel, g.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "capacityctl:", err)
		return 2
	}
	c := &cli{g: g, stdout: stdout, stderr: stderr, logger: logger}

	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "migrate":
		err = c.migrate(ctx, rest)
	case "events":
		err = c.events(ctx, rest)
	case "projections":
		err = c.projections(ctx, rest)
	case "organisations":
		err = c.organisations(ctx, rest)
	case "locations":
		err = c.locations(ctx, rest)
	case "accounts":
		err = c.accounts(ctx, rest)
	case "cqc":
		err = c.cqc(ctx, rest)
	case "gp":
		err = c.gp(ctx, rest)
	case "seed":
		err = c.seed(ctx, rest)
	case "replay":
		err = c.replay(ctx, rest)
	case "verify":
		err = c.verify(ctx, rest)
	case "checkpoint":
		err = c.checkpoint(ctx, rest)
	case "bench":
		return runBench(ctx, c, rest)
	case "help":
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	default:
		fmt.Fprintf(stderr, "capacityctl: unknown command %q\n\n", cmd)
		fs.Usage()
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "capacityctl:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "capacityctl:", err)
		return 1
	}
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// newFlagSet returns a command's flag set that prints its usage to stderr.
func (c *cli) newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: capacityctl %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("events stream ID --json") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// open opens the configured database. Commands other than migrate refuse a
// PostgreSQL schema with pending migrations rather than migrating behind the
// operator's back (the SQLite store migrates itself when opened).
func (c *cli) open(ctx context.Context) (*app.Backend, error) {
	b, err := app.Open(ctx, c.g.app, app.OpenOptions{})
	if err != nil {
		return nil, err
	}
	n, err := b.PendingMigrations(ctx)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("read applied migrations (run capacityctl migrate?): %w", err)
	}
	if n > 0 {
		b.Close()
		return nil, fmt.Errorf("the database has %d pending migration(s): run capacityctl migrate first", n)
	}
	return b, nil
}

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.newFlagSet("migrate", "migrate")
	if rest, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("migrate takes no arguments")
	}
	b, err := app.Open(ctx, c.g.app, app.OpenOptions{})
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := b.Migrate(ctx)
	if err != nil {
		return err
	}
	latest, err := migrations.Latest(b.Kind)
	if err != nil {
		return err
	}
	// The SQLite store applies its migrations when opened, so here n is 0
	// for SQLite; the schema version is what the operator needs to know.
	fmt.Fprintf(c.stdout, "%s database %s: schema at version %d (%d migration(s) applied now)\n", b.Kind, b.Describe(), latest, n)
	return nil
}
