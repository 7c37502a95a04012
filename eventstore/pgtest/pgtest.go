// Package pgtest gives tests a real, throwaway PostgreSQL database.
//
// The server is, in order: TEST_DATABASE_URL when set; else the local server
// at 127.0.0.1:5432 (user postgres, trust auth); else a temporary server
// started from the PostgreSQL binaries on PATH (initdb, pg_ctl), stopped when
// the test binary ends. With none of these, tests fail (never skip) and say
// how to install PostgreSQL.
//
// Each call of NewDatabase creates a fresh database, dropped in t.Cleanup;
// NewDatabaseFrom creates it as a copy of a prepared template database,
// built once per server and version (see Template), and
// NewMigratedDatabase a copy of the migrated one.
// Packages that use it call Main from TestMain so that a temporary server is
// stopped at the end.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/migrations"
)

// InstallHint is printed when no PostgreSQL can be had.
const InstallHint = `no PostgreSQL server available for tests.
Set TEST_DATABASE_URL=postgres://user@host:port/db, or run a server on 127.0.0.1:5432
(user postgres, trust auth), or put the PostgreSQL binaries (initdb, pg_ctl) on PATH.
On Debian/Ubuntu: apt-get install postgresql && pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`

type server struct {
	adminURL string // a URL of the server's maintenance database
	stop     func()
	err      error
}

var (
	once   sync.Once
	shared server
	ahead  = &spares{lines: map[string]chan spare{}}
)

// Main runs the tests, drops the databases made ahead of need (see
// NewDatabaseFrom), and stops a temporary server if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	ahead.close()
	if shared.stop != nil {
		shared.stop()
	}
	return code
}

func getServer() server {
	once.Do(func() { shared = findServer() })
	return shared
}

func findServer() server {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		if err := ping(u); err != nil {
			return server{err: fmt.Errorf("TEST_DATABASE_URL=%s is not reachable: %w", u, err)}
		}
		return server{adminURL: u}
	}
	local := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if ping(local) == nil {
		return server{adminURL: local}
	}
	s, err := startTemporary()
	if err != nil {
		return server{err: fmt.Errorf("%s\n(starting a temporary server failed: %v)", InstallHint, err)}
	}
	return s
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

func startTemporary() (server, error) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return server{}, errors.New("initdb not on PATH")
	}
	pgctl, err := exec.LookPath("pg_ctl")
	if err != nil {
		return server{}, errors.New("pg_ctl not on PATH")
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return server{}, err
	}
	// PostgreSQL refuses to run as root: run it as the postgres user.
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return server{}, errors.New("running as root and there is no postgres user to run the server")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return server{}, err
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	port, err := freePort()
	if err != nil {
		return server{}, err
	}
	data := filepath.Join(dir, "data")
	if out, err := run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput(); err != nil {
		return server{}, fmt.Errorf("initdb: %v: %s", err, out)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	if out, err := run(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		return server{}, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	stop := func() {
		_ = run(pgctl, "-D", data, "-m", "immediate", "stop").Run()
		_ = os.RemoveAll(dir)
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := ping(u); err != nil {
		stop()
		return server{}, err
	}
	return server{adminURL: u, stop: stop}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ServerURL returns the URL of the maintenance database of the test server,
// failing the test (not skipping it) when there is none.
func ServerURL(t testing.TB) string {
	t.Helper()
	s := getServer()
	if s.err != nil {
		t.Fatalf("PostgreSQL required: %v", s.err)
	}
	return s.adminURL
}

// NewDatabase creates an empty database for this test and returns its URL.
// The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, nil)
}

// NewMigratedDatabase creates a database for this test with the
// migrations applied (a copy of a template, see NewDatabaseFrom) and
// returns its URL. The database is dropped when the test ends.
func NewMigratedDatabase(t testing.TB) string {
	t.Helper()
	tpl, err := MigratedTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return NewDatabaseFrom(t, tpl)
}

// MigratedTemplate is the template of NewMigratedDatabase. Its key hashes
// the migrations, so that a new one makes a new template.
func MigratedTemplate() (Template, error) {
	migs, err := migrations.Load("postgres")
	if err != nil {
		return Template{}, err
	}
	h := sha256.New()
	// Bump when the way the template is built changes.
	fmt.Fprintf(h, "pgtest migrated 1\x00")
	for _, m := range migs {
		fmt.Fprintf(h, "migration %d %s\x00%s\x00", m.Version, m.Name, m.SQL)
	}
	return Template{Key: hex.EncodeToString(h.Sum(nil))[:24], Build: func(ctx context.Context, url string) error {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return err
		}
		defer pool.Close()
		_, err = migrations.ApplyPostgres(ctx, pool)
		return err
	}}, nil
}

// A Template is a prepared database that NewDatabaseFrom copies: building
// the same schema for every test (migrations, read-model tables) costs up
// to a second or more on a busy machine, copying it a fraction of that.
type Template struct {
	// Key identifies what Build makes (a hash of its inputs, in lower-case
	// letters and digits): a template is built once per Key on a server,
	// reused by every later test binary and never changed, so the Key must
	// change whenever Build's result would.
	Key string
	// Build fills the empty database at url. It closes the connections
	// it opened before it returns (those left are ended): PostgreSQL
	// copies a database only while no one is connected to it.
	Build func(ctx context.Context, url string) error
}

// templatePrefix starts the names of the templates' databases.
const templatePrefix = "ct_template_"

// templateLockKey is the advisory lock held while a template is built
// ("pgtest t" folded into an int64), so that test binaries that start
// together (go test runs packages in parallel) build it once.
const templateLockKey int64 = 0x7067746573742074

// templateMaxAge is how long a template of another Key is kept after it
// was built: other checkouts of other versions may share the server and
// still use theirs.
const templateMaxAge = 7 * 24 * time.Hour

// NewDatabaseFrom creates a database for this test as a copy of the
// template, building the template first when the server does not have it
// yet, and returns its URL. The database is dropped when the test ends.
func NewDatabaseFrom(t testing.TB, tpl Template) string {
	t.Helper()
	return newDatabase(t, &tpl)
}

func newDatabase(t testing.TB, tpl *Template) string {
	t.Helper()
	admin := ServerURL(t)
	var name string
	if tpl != nil {
		sp := ahead.take(admin, *tpl)
		if sp.err != nil {
			t.Fatalf("create test database: %v", sp.err)
		}
		name = sp.name
	} else {
		var err error
		if name, err = createDatabase(context.Background(), admin, t.Name(), nil); err != nil {
			t.Fatalf("create test database: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, admin, name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return databaseURL(t, admin, name)
}

// createDatabase creates a database named after the test, empty or as a
// copy of the template (built first if the server has none yet).
func createDatabase(ctx context.Context, admin, testName string, tpl *Template) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ct_test_" + strings.ToLower(sanitize(testName)) + "_" + hex.EncodeToString(b)
	if len(name) > 60 {
		name = name[:47] + "_" + hex.EncodeToString(b)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(context.Background())
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if tpl != nil {
		// The default strategy (WAL_LOG since PostgreSQL 15) suits a
		// small template: FILE_COPY forces two checkpoints of the whole
		// server per copy, several times slower while tests write.
		create += " TEMPLATE " + pgx.Identifier{templatePrefix + tpl.Key}.Sanitize()
	}
	_, err = conn.Exec(ctx, create)
	if isMissingDatabase(err) && tpl != nil {
		if err := ensureTemplate(ctx, admin, *tpl); err != nil {
			return "", fmt.Errorf("build template database %s: %w", templatePrefix+tpl.Key, err)
		}
		_, err = conn.Exec(ctx, create)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The cancel may have come after the server made it.
			dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = dropDatabase(dropCtx, admin, name)
		}
		return "", err
	}
	// A throwaway database need not wait for the WAL to reach the disk at
	// each commit: nothing in it must survive a crash of the server, and
	// every other behaviour (isolation, locks, snapshots, gap safety) is
	// the same. Tests that commit thousands of times run several times
	// faster. (A database's settings are not copied from its template.)
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET synchronous_commit = off"); err != nil {
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = dropDatabase(dropCtx, admin, name)
		return "", fmt.Errorf("configure test database: %w", err)
	}
	return name, nil
}

func dropDatabase(ctx context.Context, admin, name string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// spares makes one copy of each template ahead of need, in the
// background: copying a database costs the server a few hundred
// milliseconds of writing (more when it is busy), which then overlaps the
// previous test instead of delaying the next one.
type spares struct {
	mu     sync.Mutex
	lines  map[string]chan spare // by template key
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// spare is a database made ahead, or why it could not be made.
type spare struct {
	name string
	err  error
}

// take returns the next copy of the template, starting the line of
// copies at the first call.
func (s *spares) take(admin string, tpl Template) spare {
	s.mu.Lock()
	line, ok := s.lines[tpl.Key]
	if !ok {
		if s.ctx == nil {
			s.ctx, s.cancel = context.WithCancel(context.Background())
		}
		line = make(chan spare) // the one copy ahead waits in fill
		s.lines[tpl.Key] = line
		s.wg.Add(1)
		go s.fill(admin, tpl, line)
	}
	s.mu.Unlock()
	return <-line
}

func (s *spares) fill(admin string, tpl Template, line chan<- spare) {
	defer s.wg.Done()
	for {
		name, err := createDatabase(s.ctx, admin, "ahead", &tpl)
		select {
		case line <- spare{name: name, err: err}:
		case <-s.ctx.Done():
			if name != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_ = dropDatabase(ctx, admin, name)
				cancel()
			}
			return
		}
	}
}

// close stops the lines and drops the copies nobody took.
func (s *spares) close() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

func databaseURL(t testing.TB, admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse server URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// isMissingDatabase reports whether err says a database does not exist
// (here: the template, not built yet on this server, or dropped as old).
func isMissingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

// ensureTemplate builds the template unless the server has it. It builds
// under a server-wide advisory lock, into a scratch database that only
// becomes the template, by a rename, once complete: a template's name is
// its mark of completeness, so a build that crashed leaves nothing a test
// would copy. Nothing may connect to a template afterwards (it allows no
// connections), so copies never fail because someone is reading it.
func ensureTemplate(ctx context.Context, admin string, tpl Template) error {
	if tpl.Key == "" || sanitize(tpl.Key) != tpl.Key || strings.ToLower(tpl.Key) != tpl.Key || len(templatePrefix+tpl.Key) > 50 {
		return fmt.Errorf("template key %q: want up to %d lower-case letters and digits", tpl.Key, 50-len(templatePrefix))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	// Closing the connection releases the lock, also when the binary dies.
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	name := templatePrefix + tpl.Key
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil // another test binary built it while this one waited
	}
	scratch := pgx.Identifier{name + "_build"}.Sanitize()
	// A build that died midway left its scratch database behind.
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+scratch); err != nil {
		return err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/" + name + "_build"
	if err := tpl.Build(ctx, u.String()); err != nil {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)")
		return err
	}
	// Refuse new connections, then end any that Build left open (a pool's
	// connection closes asynchronously): a copy needs the template alone.
	for _, stmt := range []string{
		"ALTER DATABASE " + scratch + " ALLOW_CONNECTIONS false",
		fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s_build'", name),
		fmt.Sprintf("COMMENT ON DATABASE %s IS 'test template built %s'", scratch, time.Now().UTC().Format(time.RFC3339)),
		"ALTER DATABASE " + scratch + " RENAME TO " + pgx.Identifier{name}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return dropOldTemplates(ctx, conn, name)
}

// dropOldTemplates drops the templates of other Keys built more than
// templateMaxAge ago. A test binary of another version that still copies
// one rebuilds it (the copy fails with "does not exist" and it builds).
func dropOldTemplates(ctx context.Context, conn *pgx.Conn, keep string) error {
	rows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2 AND NOT datname LIKE '%\_build'`, templatePrefix, keep)
	if err != nil {
		return err
	}
	old, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var name, comment string
		if err := row.Scan(&name, &comment); err != nil {
			return "", err
		}
		built, err := time.Parse(time.RFC3339, strings.TrimPrefix(comment, "test template built "))
		if err != nil || time.Since(built) < templateMaxAge {
			return "", nil
		}
		return name, nil
	})
	if err != nil {
		return err
	}
	for _, name := range old {
		if name == "" {
			continue
		}
		// A copy in progress holds the template: then it stays for now.
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
	return nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
