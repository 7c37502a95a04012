// Package pgtest gives tests a real, throwaway PostgreSQL database.
//
// The server is, in order: TEST_DATABASE_URL when set; else the local server
// at 127.0.0.1:5432 (user postgres, trust auth); else a temporary server
// started from the PostgreSQL binaries on PATH (initdb, pg_ctl), stopped when
// the test binary ends. With none of these, tests fail (never skip) and say
// how to install PostgreSQL.
//
// Each call of NewDatabase creates a fresh database, dropped in t.Cleanup.
// Packages that use it call Main from TestMain so that a temporary server is
// stopped at the end.
package pgtest

import (
	"context"
	"crypto/rand"
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
)

// Main runs the tests and stops a temporary server if one was started.
func Main(m *testing.M) int {
	code := m.Run()
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
	admin := ServerURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ct_test_" + strings.ToLower(sanitize(t.Name())) + "_" + hex.EncodeToString(b)
	if len(name) > 60 {
		name = name[:47] + "_" + hex.EncodeToString(b)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	// A throwaway database need not wait for the WAL to reach the disk at
	// each commit: nothing in it must survive a crash of the server, and
	// every other behaviour (isolation, locks, snapshots, gap safety) is
	// the same. Tests that commit thousands of times run several times
	// faster.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET synchronous_commit = off"); err != nil {
		t.Fatalf("configure test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse server URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
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
