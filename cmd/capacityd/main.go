// Command capacityd is the Capacity Tracker server: the HTTP API, the
// projection engine that keeps the read models current, and /healthz,
// /readyz and /metrics for operators.
//
// With no DATABASE_URL it runs on an embedded SQLite file under the data
// directory, so `go run ./cmd/capacityd` needs no setup.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/commands"
)

// config is everything capacityd reads from flags and the environment.
type config struct {
	addr            string
	app             app.Config
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	// checkpointInterval is how often the event log is signed (tamper
	// evidence).
	checkpointInterval time.Duration
	// publicURL is where users reach the service: the base of the links
	// in emails.
	publicURL     string
	secureCookies bool
	mail          mailer.Settings
	// accounts are the account rules, with the lockout from flags.
	accounts commands.Config
	limits   limitConfig
}

const usageHeader = `Usage: capacityd [flags]

Runs the Capacity Tracker server. Without a database URL it keeps its data in
an embedded SQLite database under the data directory (<data-dir>/capacity.db,
outgoing mail in <data-dir>/mail); with DATABASE_URL=postgres://... it uses
PostgreSQL and applies pending migrations at start.

Endpoints: GET /healthz (process up), GET /readyz (database reachable, schema
current, projections running), GET /metrics (Prometheus).

SIGINT or SIGTERM stops it gracefully: in-flight requests finish, then the
projection engine commits its checkpoints.

Every flag can also be set by the environment variable shown; a flag given on
the command line wins.

Flags:
`

func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("capacityd", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	shutdownDefault := 30 * time.Second
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: %w", v, err)
		}
		shutdownDefault = d
	}
	fs.StringVar(&cfg.addr, "addr", app.EnvOr(getenv, "ADDR", "127.0.0.1:8080"), "`host:port` to listen on (env ADDR)")
	fs.StringVar(&cfg.app.DatabaseURL, "database-url", "", "PostgreSQL `URL` (postgres://...; pool of 25 connections unless it sets pool_max_conns); empty uses the embedded SQLite database (env DATABASE_URL)")
	fs.StringVar(&cfg.app.DataDir, "data-dir", app.EnvOr(getenv, "DATA_DIR", app.DefaultDataDir), "`directory` of the embedded SQLite database and the mail directory (env DATA_DIR)")
	fs.StringVar(&cfg.logLevel, "log-level", app.EnvOr(getenv, "LOG_LEVEL", "info"), "log `level`: debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&cfg.logFormat, "log-format", app.EnvOr(getenv, "LOG_FORMAT", app.LogFormatText), "log `format`: text or json (env LOG_FORMAT)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", shutdownDefault, "how long a graceful stop may take, for in-flight requests and projection checkpoints together (env SHUTDOWN_TIMEOUT)")
	fs.StringVar(&cfg.publicURL, "public-url", app.EnvOr(getenv, "PUBLIC_URL", "http://127.0.0.1:8080"), "`URL` where users reach the service, the base of the links in emails (env PUBLIC_URL)")
	fs.BoolVar(&cfg.secureCookies, "secure-cookies", getenv("SECURE_COOKIES") == "true", "mark session cookies Secure even on plain HTTP, behind a TLS-terminating proxy (env SECURE_COOKIES=true)")
	fs.StringVar(&cfg.mail.From, "mail-from", app.EnvOr(getenv, "MAIL_FROM", "Capacity Tracker <noreply@capacity-tracker.local>"), "sender `address` of emails (env MAIL_FROM)")
	fs.StringVar(&cfg.mail.SMTPHost, "smtp-host", getenv("SMTP_HOST"), "SMTP server `host`; empty writes each email as an .eml file under <data-dir>/mail (env SMTP_HOST)")
	fs.IntVar(&cfg.mail.SMTPPort, "smtp-port", app.EnvInt(getenv, "SMTP_PORT", 587), "SMTP server `port` (env SMTP_PORT)")
	fs.StringVar(&cfg.mail.SMTPUsername, "smtp-username", getenv("SMTP_USERNAME"), "SMTP `user` name; the password is read from env SMTP_PASSWORD only (env SMTP_USERNAME)")
	fs.StringVar(&cfg.mail.SMTPTLS, "smtp-tls", app.EnvOr(getenv, "SMTP_TLS", "starttls"), "SMTP transport `security`: starttls, tls (implicit, port 465) or none (env SMTP_TLS)")
	fs.DurationVar(&cfg.checkpointInterval, "checkpoint-interval", 5*time.Minute, "how often to sign a checkpoint of the event log (tamper evidence; see capacityctl verify)")
	cfg.accounts = commands.DefaultConfig()
	fs.IntVar(&cfg.accounts.MaxFailedLogins, "lockout-attempts", app.EnvInt(getenv, "LOCKOUT_ATTEMPTS", cfg.accounts.MaxFailedLogins), "consecutive wrong passwords that lock an account (env LOCKOUT_ATTEMPTS)")
	lockDefault := cfg.accounts.LockFor
	if v := getenv("LOCKOUT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("LOCKOUT_DURATION=%q: %w", v, err)
		}
		lockDefault = d
	}
	fs.DurationVar(&cfg.accounts.LockFor, "lockout-duration", lockDefault, "how long a locked account stays locked (env LOCKOUT_DURATION)")
	limits := registerLimitFlags(fs, getenv, &cfg.accounts.HashConcurrency)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.limits, err = limits.parse(); err != nil {
		return cfg, err
	}
	if cfg.accounts.MaxFailedLogins < 1 || cfg.accounts.LockFor <= 0 {
		return cfg, errors.New("lockout attempts and duration must be positive")
	}
	cfg.mail.SMTPPassword = getenv("SMTP_PASSWORD")
	if err := cfg.mail.Validate(); err != nil {
		return cfg, err
	}
	if u, err := url.Parse(cfg.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("public URL %q must be an absolute http(s) URL", cfg.publicURL)
	}
	// The URL may hold a password: it is read from the environment after
	// parsing rather than shown as the flag's default in -h.
	if !app.FlagGiven(fs, "database-url") {
		cfg.app.DatabaseURL = getenv("DATABASE_URL")
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := cfg.app.Validate(); err != nil {
		return cfg, err
	}
	if cfg.shutdownTimeout <= 0 {
		return cfg, errors.New("shutdown timeout must be positive")
	}
	if cfg.checkpointInterval <= 0 {
		return cfg, errors.New("checkpoint interval must be positive")
	}
	return cfg, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run returns the exit code: 0 after a clean stop, 1 when serving failed, 2
// for bad flags.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "capacityd:", err)
		return 2
	}
	logger, err := app.NewLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "capacityd:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("capacityd failed", "err", err)
		return 1
	}
	return 0
}
