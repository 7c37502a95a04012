package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
)

// ctlDB is a database that capacityctl runs against in-process, as an
// operator would run it: the embedded SQLite file under a data directory,
// or PostgreSQL.
type ctlDB struct {
	t   *testing.T
	cfg app.Config
}

// newCtlDB is a fresh, migrated database of the backend.
func newCtlDB(t *testing.T, backend string) *ctlDB {
	t.Helper()
	// The data directory is given on both backends: capacityctl creates
	// its mail directory there, which must not land in the source tree.
	db := &ctlDB{t: t, cfg: app.Config{DataDir: t.TempDir()}}
	if backend == app.KindPostgres {
		db.cfg.DatabaseURL = pgtest.NewDatabase(t)
	}
	db.must("migrate")
	return db
}

// ctl runs capacityctl with the database's global flags and no
// environment.
func (db *ctlDB) ctl(args ...string) (code int, stdout, stderr string) {
	db.t.Helper()
	global := []string{"-data-dir", db.cfg.DataDir}
	if db.cfg.DatabaseURL != "" {
		global = append(global, "-database-url", db.cfg.DatabaseURL)
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), append(global, args...), func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// must runs capacityctl and fails the test unless it succeeds.
func (db *ctlDB) must(args ...string) string {
	db.t.Helper()
	code, out, errOut := db.ctl(args...)
	if code != 0 {
		db.t.Fatalf("capacityctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs capacityctl, wants exit code 1 and returns its output.
func (db *ctlDB) fails(args ...string) (stdout, stderr string) {
	db.t.Helper()
	code, out, errOut := db.ctl(args...)
	if code != 1 {
		db.t.Fatalf("capacityctl %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// open opens the database the way capacityctl does, for a look at the log.
func (db *ctlDB) open() *app.Backend {
	db.t.Helper()
	b, err := app.Open(context.Background(), db.cfg, app.OpenOptions{})
	if err != nil {
		db.t.Fatal(err)
	}
	return b
}

// streams is the version of every stream of the log.
func (db *ctlDB) streams() map[string]int64 {
	db.t.Helper()
	b := db.open()
	defer b.Close()
	out := map[string]int64{}
	after := ""
	for {
		list, err := b.Store.ListStreams(context.Background(), eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			db.t.Fatal(err)
		}
		if len(list) == 0 {
			return out
		}
		for _, s := range list {
			out[s.StreamID] = s.Version
		}
		after = list[len(list)-1].StreamID
	}
}

// unchanged fails the test when the log differs from before.
func (db *ctlDB) unchanged(what string, before map[string]int64) {
	db.t.Helper()
	if after := db.streams(); !maps.Equal(before, after) {
		db.t.Errorf("%s changed the log: %d events in %d streams before, %d in %d after",
			what, total(before), len(before), total(after), len(after))
	}
}

func total(streams map[string]int64) int64 {
	var n int64
	for _, v := range streams {
		n += v
	}
	return n
}

// user is the holder of an email address, folded from the user stream by
// the commands; ok is false when nobody holds the address.
func (db *ctlDB) user(email string) (u account.User, ok bool) {
	db.t.Helper()
	ctx := context.Background()
	b := db.open()
	defer b.Close()
	evs, err := b.Store.ReadStream(ctx, account.EmailStream(account.MustEmail(email)), eventstore.ReadStreamOptions{})
	if err != nil {
		db.t.Fatal(err)
	}
	var id uuid.UUID
	for _, ev := range evs {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			db.t.Fatal(err)
		}
		switch e := d.(type) {
		case account.EmailClaimed:
			id = e.UserID
		case account.EmailReleased:
			id = uuid.Nil
		}
	}
	if id == uuid.Nil {
		return account.User{}, false
	}
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	a, err := b.NewCommands(ctx, cfg, nil)
	if err != nil {
		db.t.Fatal(err)
	}
	u, err = a.LoadUser(ctx, id)
	if err != nil {
		db.t.Fatal(err)
	}
	return u, true
}

// wantAll fails the test unless s holds every one of want.
func wantAll(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s = %q, want it to say %q", what, s, w)
		}
	}
}

// managerImport is the automatic registration file of the test: three
// managers of two locations, one more without a phone number (which is
// allowed), and two rows that fail: an unknown location and a bad email.
const managerImport = "\ufeffLocation ID,Manager name,Email,Phone\r\n" +
	"1-200,Jane Manager,Jane.Manager@Cranberry.example,01632 960001\r\n" +
	"1-201,Bob Carer,bob.carer@cranberry.example,+44 1632 960002\r\n" +
	"1-200,\"Carol O'Neill\",carol.oneill@cranberry.example,(01632) 960-003\r\n" +
	"1-999,Dan Nowhere,dan.nowhere@cranberry.example,01632 960004\r\n" +
	"1-201,Eve Typo,eve.typo-at-cranberry.example,01632 960005\r\n" +
	"1-201,Fay Nophone,fay.nophone@cranberry.example,\r\n"

// imported is what the valid rows of managerImport make.
var imported = []struct {
	email, name, phone, location string
}{
	{"jane.manager@cranberry.example", "Jane Manager", "01632 960001", "1-200"},
	{"bob.carer@cranberry.example", "Bob Carer", "+44 1632 960002", "1-201"},
	{"carol.oneill@cranberry.example", "Carol O'Neill", "(01632) 960-003", "1-200"},
	{"fay.nophone@cranberry.example", "Fay Nophone", "", "1-201"},
}

func TestAccountCommands(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{app.KindPostgres, app.KindSQLite} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := newCtlDB(t, backend)

			t.Run("OrganisationsAdd", func(t *testing.T) {
				db.t = t
				out := db.must("organisations", "add", "--id", "1-100", "--name", "Cranberry Care Services", "--type", "care_home")
				if !regexp.MustCompile(`^organisation 1-100 registered \(position \d+\)\n$`).MatchString(out) {
					t.Errorf("organisations add printed %q", out)
				}
				before := db.streams()
				_, errOut := db.fails("organisations", "add", "--id", "not an id", "--name", "X", "--type", "castle")
				wantAll(t, "bad organisation's error", errOut, "organisation_id: Use 1 to 64 letters", "name: Enter a name of 2 to 200 characters",
					"type: Choose one of the organisation types")
				_, errOut = db.fails("organisations", "add", "--id", "1-100", "--name", "Cranberry Again")
				wantAll(t, "duplicate organisation's error", errOut, "organisation 1-100 exists already")
				for _, args := range [][]string{{"organisations"}, {"organisations", "remove"}, {"organisations", "add", "stray", "--id", "1-101"}} {
					if code, _, _ := db.ctl(args...); code != 2 {
						t.Errorf("capacityctl %v exited %d, want 2", args, code)
					}
				}
				db.unchanged("refused organisations", before)
			})

			t.Run("LocationsAdd", func(t *testing.T) {
				db.t = t
				for _, l := range []struct{ id, name, postcode string }{{"1-200", "Cranberry Home Care", "nn1 1nn"}, {"1-201", "Cranberry Court", "NN2 6AB"}} {
					out := db.must("locations", "add", "--id", l.id, "--organisation", "1-100", "--name", l.name, "--postcode", l.postcode,
						"--local-authority", "West Northamptonshire", "--ccg", "NHS Northamptonshire CCG")
					if !regexp.MustCompile(`^location ` + l.id + ` registered \(position \d+\)\n$`).MatchString(out) {
						t.Errorf("locations add printed %q", out)
					}
				}
				before := db.streams()
				_, errOut := db.fails("locations", "add", "--id", "1-202", "--organisation", "1-999", "--name", "C", "--postcode", "nowhere")
				wantAll(t, "bad location's error", errOut, "organisation_id: No organisation has this id",
					"name: Enter a name of 2 to 200 characters", "postcode: Enter a full UK postcode")
				if strings.Contains(errOut, "location_id") {
					t.Errorf("bad location's error %q blames its valid id", errOut)
				}
				_, errOut = db.fails("locations", "add", "--id", "1-200", "--organisation", "1-100", "--name", "Cranberry Again", "--postcode", "NN1 1NN")
				wantAll(t, "duplicate location's error", errOut, "location 1-200 exists already")
				if code, _, _ := db.ctl("locations", "add", "--id", "1-203", "--nonsense"); code != 2 {
					t.Errorf("locations add with an unknown flag exited %d, want 2", code)
				}
				db.unchanged("refused locations", before)
			})

			file := filepath.Join(t.TempDir(), "managers.csv")
			if err := os.WriteFile(file, []byte(managerImport), 0o600); err != nil {
				t.Fatal(err)
			}

			t.Run("AccountsImportRegistersTheValidRowsAndFailsForTheRest", func(t *testing.T) {
				db.t = t
				before := total(db.streams())
				out, errOut := db.fails("accounts", "import", file)
				wantAll(t, "import's output", out,
					"line 5: 1-999: failed: location_id: No location has this id\n",
					"line 6: 1-201: failed: email: Enter an email address",
					"4 registered, 0 unchanged, 2 failed\n")
				wantAll(t, "import's error", errOut, "2 of 6 rows failed")
				// Each new manager: an email claim, the user, a link.
				if got := total(db.streams()) - before; got != 3*int64(len(imported)) {
					t.Errorf("import appended %d events, want %d", got, 3*len(imported))
				}
				for _, m := range imported {
					u, ok := db.user(m.email)
					if !ok {
						t.Errorf("nobody holds %s", m.email)
						continue
					}
					if u.Role != account.Approver || u.Status != account.Active || u.Kind != account.Personal ||
						u.Email != m.email || u.FullName != m.name || u.Phone != m.phone ||
						!maps.Equal(u.Locations, map[string]string{m.location: "1-100"}) {
						t.Errorf("%s = %s %s %s %q %q %q %v, want an active personal Approver of %s", m.email,
							u.Role, u.Status, u.Kind, u.Email, u.FullName, u.Phone, u.Locations, m.location)
					}
					links := 0
					for _, l := range u.Links {
						if l.Purpose == account.LinkSetPassword && !l.Used {
							links++
						}
					}
					if links != 1 || u.HasPassword {
						t.Errorf("%s has %d set-password links and password %v, want one link and no password", m.email, links, u.HasPassword)
					}
				}
				if _, ok := db.user("dan.nowhere@cranberry.example"); ok {
					t.Error("the row of an unknown location registered its manager")
				}
			})

			t.Run("ReimportingTheFileChangesNothing", func(t *testing.T) {
				db.t = t
				before := db.streams()
				out, _ := db.fails("accounts", "import", file)
				wantAll(t, "second import's output", out, "0 registered, 4 unchanged, 2 failed\n")
				db.unchanged("the second import", before)
			})

			t.Run("AccountsImportRefusesABadFileBeforeImportingAnything", func(t *testing.T) {
				db.t = t
				bad := filepath.Join(t.TempDir(), "bad.csv")
				content := "Location ID,Manager name,Email,Phone\n1-200,Gil New,gil.new@cranberry.example,\n\n1-201,Hal Short,hal.short@cranberry.example\n"
				if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				before := db.streams()
				_, errOut := db.fails("accounts", "import", bad)
				wantAll(t, "bad file's error", errOut, bad+": line 4: 3 columns, want 4")
				_, errOut = db.fails("accounts", "import", filepath.Join(t.TempDir(), "missing.csv"))
				wantAll(t, "missing file's error", errOut, "missing.csv")
				for _, args := range [][]string{{"accounts"}, {"accounts", "import"}, {"accounts", "import", bad, bad}, {"accounts", "export"}} {
					if code, _, _ := db.ctl(args...); code != 2 {
						t.Errorf("capacityctl %v exited %d, want 2", args, code)
					}
				}
				db.unchanged("refused imports", before)
			})

			t.Run("AccountsCreateSupport", func(t *testing.T) {
				db.t = t
				out := db.must("accounts", "create-support", "--email", " Sam.Support@NECSU.example.nhs.uk ", "--name", "Sam Support")
				m := regexp.MustCompile(`^support user (\S+) created; a set-password link is being emailed to sam\.support@necsu\.example\.nhs\.uk\n$`).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("create-support printed %q", out)
				}
				u, ok := db.user("sam.support@necsu.example.nhs.uk")
				if !ok || u.ID.String() != m[1] || u.Role != account.Support || u.Status != account.Active || u.FullName != "Sam Support" || len(u.Links) != 1 {
					t.Errorf("support user = %+v (found %v), want active support %s with a link", u, ok, m[1])
				}

				before := db.streams()
				for _, email := range []string{"sam.support@necsu.example.nhs.uk", "SAM.SUPPORT@necsu.example.nhs.uk", imported[0].email} {
					_, errOut := db.fails("accounts", "create-support", "--email", email, "--name", "Sam Again")
					wantAll(t, fmt.Sprintf("create-support of %s", email), errOut, account.UsernameTaken)
				}
				_, errOut := db.fails("accounts", "create-support", "--email", "sam-at-necsu", "--name", "S")
				wantAll(t, "create-support with bad input", errOut, "email: Enter an email address", "full_name: ")
				if code, _, _ := db.ctl("accounts", "create-support", "sam"); code != 2 {
					t.Errorf("create-support with an argument exited %d, want 2", code)
				}
				db.unchanged("refused support users", before)
			})

			t.Run("AccountsPasswordRemindersFindsNoneBeforeAnyPasswordIsSet", func(t *testing.T) {
				db.t = t
				// The job finds its candidates in the users read model; it
				// brings that up to date itself, even where no server or
				// rebuild ever built it.
				before := db.streams()
				if out := db.must("accounts", "password-reminders"); out != "0 password expiry reminder(s) recorded\n" {
					t.Errorf("password-reminders printed %q", out)
				}
				if code, _, _ := db.ctl("accounts", "password-reminders", "now"); code != 2 {
					t.Errorf("password-reminders with an argument exited %d, want 2", code)
				}
				db.unchanged("password-reminders", before)
			})
		})
	}
}
