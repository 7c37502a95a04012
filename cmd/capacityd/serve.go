package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/web"
	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/queries"
)

// serve runs the server until ctx is cancelled, then stops in order: the
// HTTP server first (in-flight requests finish, no new ones are accepted),
// then the projection engine (it commits its checkpoints), then the
// database.
func serve(ctx context.Context, cfg config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	storeMetrics, err := app.NewStoreMetrics(reg)
	if err != nil {
		return err
	}

	backend, err := app.Open(ctx, cfg.app, app.OpenOptions{Migrate: true, Metrics: storeMetrics})
	if err != nil {
		return err
	}
	defer backend.Close()
	logger.Info("database opened", "backend", backend.Kind, "database", backend.Describe(),
		"migrations_applied", backend.MigrationsApplied(), "mail_dir", backend.MailDir, "pool_size", backend.PoolSize())

	engine, err := backend.NewEngine(logger)
	if err != nil {
		return err
	}
	reg.MustRegister(app.NewProjectionCollector(engine, logger))

	accounts, err := backend.NewCommands(ctx, cfg.accounts, logger)
	if err != nil {
		return err
	}
	accountQueries := &queries.Service{ReadModels: projections.NewReadModels(backend.ProjectionBackend()), Waiter: engine}

	sender, err := cfg.mail.Sender(backend.MailDir)
	if err != nil {
		return err
	}
	from, err := cfg.mail.FromAddress()
	if err != nil {
		return err
	}
	dispatcher, err := mailer.New(mailoutbox.NewDeliveries(backend.ProjectionBackend()), mailer.Config{
		Sender: sender, From: from, PublicURL: cfg.publicURL, LinkKey: accounts.LinkKey(),
	}, logger)
	if err != nil {
		return err
	}
	if cfg.mail.SMTPHost == "" {
		logger.Info("mail is written as .eml files", "dir", backend.MailDir)
	}

	limiter := backend.NewLimiter()
	// The pages and the API share the rate limits' counters and the work
	// after answers, which api.Drain waits for at shutdown.
	afterAnswer := httpapi.NewAfterAnswer(logger)

	pages, err := web.New(web.Options{
		Logger:        logger,
		Commands:      accounts,
		Queries:       accountQueries,
		SecureCookies: cfg.secureCookies,
		Limiter:       limiter,
		Limits:        cfg.limits.limits,
		AfterAnswer:   afterAnswer,
	})
	if err != nil {
		return err
	}

	api, err := httpapi.New(httpapi.Options{
		Logger:         logger,
		Registry:       reg,
		Commands:       accounts,
		Queries:        accountQueries,
		SecureCookies:  cfg.secureCookies,
		Limiter:        limiter,
		Limits:         cfg.limits.limits,
		TrustedProxies: cfg.limits.trustedProxies,
		AfterAnswer:    afterAnswer,
		Web:            pages,
		Ready: []httpapi.Check{
			{Name: "database", Check: backend.CheckDatabase},
			{Name: "migrations", Check: backend.CheckMigrations},
			{Name: "projections", Check: func(context.Context) error {
				if !engine.Running() {
					return errors.New("projection engine is not running")
				}
				return nil
			}},
		},
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// The engine outlives the signal: it is stopped explicitly after the
	// HTTP server has drained.
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(engineCtx) }()

	// Background work stops with the engine, after the HTTP server drained,
	// and is waited for before the database closes.
	var background sync.WaitGroup
	background.Go(func() {
		if err := dispatcher.Run(engineCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("mail dispatcher stopped", "err", err)
		}
	})
	background.Go(func() {
		scheduled(engineCtx, engine, "password-reminders", time.Minute, 24*time.Hour, logger, func(ctx context.Context) error {
			_, err := jobs.PasswordReminders(ctx, *accountQueries, accounts, time.Now(), logger)
			return err
		})
	})

	background.Go(func() {
		// The projections redact erased people in place; this rebuilds the
		// views once for erasures recorded before they did (an upgraded
		// database), and then finds nothing to do.
		scheduled(engineCtx, engine, "erasures", 10*time.Second, time.Minute, logger, func(ctx context.Context) error {
			_, err := jobs.ApplyErasures(ctx, backend.CommandStore(), engine, time.Now(), logger)
			return err
		})
	})
	background.Go(func() {
		// Rate limit counters whose window ended count nothing.
		scheduled(engineCtx, engine, "rate-limit-sweep", time.Minute, 10*time.Minute, logger, func(ctx context.Context) error {
			_, err := limiter.Sweep(ctx)
			return err
		})
	})
	chainKey, err := backend.ChainKey(ctx)
	if err != nil {
		return err
	}
	background.Go(func() {
		// Sign the log as it grows (tamper evidence, eventstore/chain.go).
		scheduled(engineCtx, engine, "event-chain-checkpoint", time.Minute, cfg.checkpointInterval, logger, func(ctx context.Context) error {
			cp, ok, err := eventstore.Checkpoint(ctx, backend.ChainStore(), chainKey, time.Now())
			if ok {
				logger.Info("event log checkpoint signed", "seq", cp.Seq, "position", cp.Position, "events", cp.Events)
			}
			return err
		})
	})

	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	logger.Info("capacityd listening", "addr", ln.Addr().String(), "backend", backend.Kind)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutdown requested: draining HTTP requests", "timeout", cfg.shutdownTimeout)
	case err := <-serveDone:
		runErr = fmt.Errorf("http server: %w", err)
		serveDone = nil
		logger.Error("http server failed: shutting down", "err", err)
	case err := <-engineDone:
		if err == nil {
			err = errors.New("returned without being stopped")
		}
		runErr = fmt.Errorf("projection engine: %w", err)
		engineDone = nil
		logger.Error("projection engine stopped unexpectedly: shutting down", "err", err)
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		runErr = errors.Join(runErr, fmt.Errorf("drain HTTP requests: %w", err))
	}
	if serveDone != nil {
		if err := <-serveDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, fmt.Errorf("http server: %w", err))
		}
	}
	// Work that requests left running after their answers (a forgotten-
	// password request's lookup and link) finishes before the database
	// closes.
	if err := api.Drain(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("work after HTTP answers did not finish: %w", err))
	}
	logger.Info("http server stopped")

	stopEngine()
	if engineDone != nil {
		select {
		case err := <-engineDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				runErr = errors.Join(runErr, fmt.Errorf("stop projection engine: %w", err))
			}
		case <-shutdownCtx.Done():
			runErr = errors.Join(runErr, errors.New("projection engine did not stop within the shutdown timeout"))
		}
	}
	logger.Info("projection engine stopped")
	backgroundDone := make(chan struct{})
	go func() { background.Wait(); close(backgroundDone) }()
	select {
	case <-backgroundDone:
	case <-shutdownCtx.Done():
		runErr = errors.Join(runErr, errors.New("mail dispatcher or scheduled jobs did not stop within the shutdown timeout"))
	}

	if err := backend.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close database: %w", err))
	}
	if runErr == nil {
		logger.Info("shutdown complete")
	}
	return runErr
}
