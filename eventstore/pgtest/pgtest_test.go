package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// testTemplate is a template of its own key (dropped when the test ends)
// whose Build creates a table and counts its calls.
func testTemplate(t *testing.T, builds *atomic.Int32) Template {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	tpl := Template{
		Key: "pgtesttest" + hex.EncodeToString(b),
		Build: func(ctx context.Context, url string) error {
			builds.Add(1)
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			// Slow enough that concurrent builders would overlap.
			_, err = conn.Exec(ctx, "CREATE TABLE built (n int); INSERT INTO built VALUES (1); SELECT pg_sleep(0.2)")
			return err
		},
	}
	admin := ServerURL(t)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		for _, n := range []string{templatePrefix + tpl.Key, templatePrefix + tpl.Key + "_build"} {
			if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
				t.Error(err)
			}
		}
	})
	return tpl
}

func queryInt(t *testing.T, url, q string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Test binaries that start together build a missing template once, and
// each gets its own copy of it.
func TestTemplateBuiltOnceByConcurrentBinaries(t *testing.T) {
	var builds atomic.Int32
	tpl := testTemplate(t, &builds)
	admin := ServerURL(t)
	ctx := context.Background()
	// Each goroutine stands for a test binary: its own connections, no
	// shared line of spare copies.
	names := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() { names[i], errs[i] = createDatabase(ctx, admin, t.Name(), &tpl) })
	}
	wg.Wait()
	for i, name := range names {
		if errs[i] != nil {
			t.Fatalf("copy %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = dropDatabase(context.Background(), admin, name) })
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("the template was built %d times, want once", n)
	}
	// The copies are independent databases with what Build made.
	first := databaseURL(t, admin, names[0])
	conn, err := pgx.Connect(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO built VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if n := queryInt(t, first, "SELECT count(*) FROM built"); n != 2 {
		t.Errorf("first copy has %d rows, want 2", n)
	}
	for _, name := range names[1:] {
		if n := queryInt(t, databaseURL(t, admin, name), "SELECT count(*) FROM built"); n != 1 {
			t.Errorf("copy %s has %d rows, want the template's 1", name, n)
		}
	}
	// Through the test helper, later copies reuse the template.
	url := NewDatabaseFrom(t, tpl)
	if n := queryInt(t, url, "SELECT count(*) FROM built"); n != 1 {
		t.Errorf("NewDatabaseFrom's copy has %d rows, want 1", n)
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("the template was built %d times, want once", n)
	}
	if n := queryInt(t, admin, fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s%s' AND NOT datallowconn", templatePrefix, tpl.Key)); n != 1 {
		t.Errorf("want one template %s that allows no connections", tpl.Key)
	}
}

// A build that fails leaves no template: the next test builds it again.
func TestTemplateFailedBuildLeavesNothing(t *testing.T) {
	var builds atomic.Int32
	tpl := testTemplate(t, &builds)
	good := tpl.Build
	tpl.Build = func(ctx context.Context, url string) error {
		builds.Add(1)
		return fmt.Errorf("build broke")
	}
	admin := ServerURL(t)
	if _, err := createDatabase(context.Background(), admin, t.Name(), &tpl); err == nil {
		t.Fatal("a copy of a template whose build failed was made")
	}
	tpl.Build = good
	name, err := createDatabase(context.Background(), admin, t.Name(), &tpl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dropDatabase(context.Background(), admin, name) })
	if n := queryInt(t, databaseURL(t, admin, name), "SELECT count(*) FROM built"); n != 1 {
		t.Errorf("copy has %d rows, want 1", n)
	}
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds, want the failed one and one more", n)
	}
}

// Building a template drops those of other keys built more than
// templateMaxAge ago, and keeps the recent ones.
func TestTemplateDropsOldOnes(t *testing.T) {
	var builds atomic.Int32
	old, recent, current := testTemplate(t, &builds), testTemplate(t, &builds), testTemplate(t, &builds)
	admin := ServerURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for tpl, built := range map[string]time.Time{old.Key: time.Now().Add(-templateMaxAge - time.Hour), recent.Key: time.Now().Add(-time.Hour)} {
		id := pgx.Identifier{templatePrefix + tpl}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+id+" ALLOW_CONNECTIONS false"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS 'test template built %s'", id, built.UTC().Format(time.RFC3339))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureTemplate(ctx, admin, current); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{old.Key: 0, recent.Key: 1, current.Key: 1} {
		if n := queryInt(t, admin, fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s%s'", templatePrefix, key)); n != want {
			t.Errorf("template %s: %d databases, want %d", key, n, want)
		}
	}
}
