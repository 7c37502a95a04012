package app_test

import (
	"context"
	"errors"
	neturl "net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConfig_SelectsBackendFromDatabaseURL(t *testing.T) {
	tests := []struct {
		url     string
		kind    string
		invalid bool
	}{
		{"", app.KindSQLite, false},
		{"postgres://u@h/db", app.KindPostgres, false},
		{"postgresql://u@h/db", app.KindPostgres, false},
		{"mysql://u@h/db", app.KindPostgres, true},
	}
	for _, tc := range tests {
		cfg := app.Config{DatabaseURL: tc.url}
		if cfg.Kind() != tc.kind {
			t.Errorf("Kind(%q) = %s, want %s", tc.url, cfg.Kind(), tc.kind)
		}
		if err := cfg.Validate(); (err != nil) != tc.invalid {
			t.Errorf("Validate(%q) = %v, want invalid %v", tc.url, err, tc.invalid)
		}
	}
	if got, want := (app.Config{}).SQLitePath(), filepath.Join("data", "capacity.db"); got != want {
		t.Errorf("default SQLite path = %s, want %s", got, want)
	}
}

func appendOne(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedVersion) error {
	t.Helper()
	ev, err := eventstore.NewEvent("ThingHappened", map[string]int{"n": 1}, eventstore.Metadata{ActorUserID: "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(context.Background(), stream, expected, ev)
	return err
}

// checkInstrumentedAppends drives the instrumented store of an opened
// backend and checks what the metrics counted.
func checkInstrumentedAppends(t *testing.T, cfg app.Config, opts app.OpenOptions) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := app.NewStoreMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Metrics = m
	b, err := app.Open(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := os.Stat(b.MailDir); err != nil {
		t.Errorf("mail directory not created: %v", err)
	}

	if err := appendOne(t, b.Store, "thing-1", eventstore.NoStream); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(t, b.Store, "thing-1", eventstore.NoStream); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("second NoStream append: %v, want a version conflict", err)
	}
	if err := appendOne(t, b.Store, "Not A Stream", eventstore.Any); !errors.Is(err, eventstore.ErrInvalidStreamID) {
		t.Fatalf("append to a bad stream id: %v, want ErrInvalidStreamID", err)
	}
	ev1, _ := eventstore.NewEvent("ThingHappened", 1, eventstore.Metadata{})
	ev2, _ := eventstore.NewEvent("ThingHappened", 2, eventstore.Metadata{})
	if _, err := b.Store.AppendMany(context.Background(), []eventstore.AppendRequest{
		{StreamID: "thing-2", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev1}},
		{StreamID: "thing-3", Expected: eventstore.NoStream, Events: []eventstore.EventData{ev2}},
	}); err != nil {
		t.Fatal(err)
	}

	counts := []struct {
		c    prometheus.Collector
		want float64
		what string
	}{
		{m.Requests().WithLabelValues("Append", "ok"), 1, "ok appends"},
		{m.Requests().WithLabelValues("Append", "conflict"), 1, "conflicting appends"},
		{m.Requests().WithLabelValues("Append", "rejected"), 1, "rejected appends"},
		{m.Requests().WithLabelValues("AppendMany", "ok"), 1, "ok multi-stream appends"},
		{m.Events().WithLabelValues("Append"), 1, "events appended by Append"},
		{m.Events().WithLabelValues("AppendMany"), 2, "events appended by AppendMany"},
	}
	for _, c := range counts {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.what, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, app.MetricAppendDuration); err != nil || n != 2 {
		t.Errorf("append duration series = %d (%v), want 2 (Append, AppendMany)", n, err)
	}
	// Stream reads, unlike global ones, never wait for other transactions
	// on a shared PostgreSQL server.
	evs, err := b.Store.ReadStream(context.Background(), "thing-1", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 1 {
		t.Errorf("reads do not pass through the instrumented store: %d events, %v", len(evs), err)
	}
}

func TestInstrumentStore_CountsAndTimesAppends_SQLite(t *testing.T) {
	t.Parallel()
	checkInstrumentedAppends(t, app.Config{DataDir: filepath.Join(t.TempDir(), "data")}, app.OpenOptions{})
}

func TestInstrumentStore_CountsAndTimesAppends_PostgreSQL(t *testing.T) {
	t.Parallel()
	checkInstrumentedAppends(t, app.Config{DatabaseURL: pgtest.NewDatabase(t), DataDir: t.TempDir()}, app.OpenOptions{Migrate: true})
}

func TestOpen_PostgreSQLMigratesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := app.Config{DatabaseURL: pgtest.NewDatabase(t), DataDir: t.TempDir()}
	b, err := app.Open(ctx, cfg, app.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.CheckMigrations(ctx); err == nil {
		t.Fatal("CheckMigrations passed on an empty database")
	}
	b2, err := app.Open(ctx, cfg, app.OpenOptions{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if b2.MigrationsApplied() == 0 {
		t.Error("Open with Migrate applied nothing on an empty database")
	}
	if err := b.CheckMigrations(ctx); err != nil {
		t.Errorf("CheckMigrations after migrating: %v", err)
	}
}

func TestOpen_PostgreSQLPoolSizeDefaultsAndURLOverrides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	withPoolSize, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	q := withPoolSize.Query()
	q.Set("pool_max_conns", "7")
	withPoolSize.RawQuery = q.Encode()
	for _, c := range []struct {
		url  string
		want int
	}{
		{url, app.DefaultPoolSize},
		{withPoolSize.String(), 7},
	} {
		b, err := app.Open(ctx, app.Config{DatabaseURL: c.url, DataDir: t.TempDir()}, app.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.PoolSize(); got != c.want {
			t.Errorf("%s: pool size %d, want %d", c.url, got, c.want)
		}
		_ = b.Close()
	}
}

func TestProjectionCollector_ExportsEveryDefaultProjection(t *testing.T) {
	t.Parallel()
	b, err := app.Open(context.Background(), app.Config{DataDir: filepath.Join(t.TempDir(), "data")}, app.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	engine, err := b.NewEngine(discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := engine.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(app.NewProjectionCollector(engine, discardLogger()))
	for _, name := range []string{app.MetricProjPosition, app.MetricProjHead, app.MetricProjLagEvents, app.MetricProjLagSeconds, app.MetricProjPoison, app.MetricProjRunning} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(statuses) {
			t.Errorf("%s has %d series, want one per projection (%d)", name, n, len(statuses))
		}
	}
}
