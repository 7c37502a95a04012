package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

const gpSampleFile = "testdata/gp-practices-sample.csv"

// gpMixedFile is a later file of practices: a byte order mark, the columns
// in another order and case, a renamed practice, a moved one, one
// unchanged, a new one, a bad postcode, a repeated code, a short row, and
// the code of an organisation that is a care home.
const gpMixedFile = "\ufeffPostcode,NAME,Code\r\n" +
	"TS18 1HU,Densham Surgery,A81001\r\n" +
	"ts18 2ax,Queens Park Medical Centre,a81002\r\n" +
	"YO24 1AW,Priory Medical Group,B82005\r\n" +
	"NN1 5DP,Abington Medical Centre,K83001\r\n" +
	"NN1,Bad Postcode Surgery,K83002\r\n" +
	"TS18 1HU,Densham Surgery again,A81001\r\n" +
	"TS18 1HU\r\n" +
	"NN1 1AA,Cranberry Surgery,Z99001\r\n"

// organisation folds an organisation stream.
func (db *ctlDB) organisation(id string) (location.Organisation, []string) {
	db.t.Helper()
	b := db.open()
	defer b.Close()
	evs, err := b.Store.ReadStream(context.Background(), location.OrganisationStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		db.t.Fatal(err)
	}
	var (
		o     location.Organisation
		types []string
	)
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			db.t.Fatal(err)
		}
		o = location.EvolveOrganisation(o, d)
		types = append(types, ev.Type)
	}
	return o, types
}

func TestGPImport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mixed := filepath.Join(dir, "mixed.csv")
	noHeader := filepath.Join(dir, "no-header.csv")
	for name, data := range map[string]string{mixed: gpMixedFile, noHeader: "A81001,The Densham Surgery,TS18 1HU\n"} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for _, backend := range []string{app.KindPostgres, app.KindSQLite} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := newCtlDB(t, backend)

			if out := db.must("gp", "import", gpSampleFile); out != "10 created, 0 changed, 0 unchanged, 0 rejected\n" {
				t.Errorf("first import printed %q", out)
			}
			streams := db.streams()
			if c := categories(streams); c["organisation"] != 10 || len(c) != 1 || total(streams) != 10 {
				t.Errorf("streams after the import: %v", streams)
			}
			if o, _ := db.organisation("A81002"); o.Type != location.GP || o.Name != "Queens Park Medical Centre" || o.Postcode != "TS18 2AW" {
				t.Errorf("A81002 = %+v", o)
			}

			if out := db.must("gp", "import", gpSampleFile); out != "0 created, 0 changed, 10 unchanged, 0 rejected\n" {
				t.Errorf("second import printed %q", out)
			}
			db.unchanged("the second import", streams)

			db.must("organisations", "add", "--id", "Z99001", "--name", "Cranberry Care Home", "--type", "care_home")
			streams = db.streams()
			out, errOut := db.fails("gp", "import", mixed)
			wantAll(t, "the mixed file's output", out, "line 7: practice A81001 appears before, at line 2\n",
				"line 8: 1 columns, want at least 3 as in the header\n", "line 6: postcode: Enter a full UK postcode",
				"line 9: organisation Z99001 exists and is of type Care Home, not a GP practice")
			if got := lastLine(out); got != "1 created, 2 changed, 1 unchanged, 4 rejected" {
				t.Errorf("the mixed file's summary %q", got)
			}
			wantAll(t, "the mixed file's error", errOut, "4 of 8 rows rejected")
			if after := db.streams(); total(after)-total(streams) != 3 || after["organisation-K83001"] != 1 {
				t.Errorf("the mixed file appended %d events", total(after)-total(streams))
			}
			if o, types := db.organisation("A81001"); o.Name != "Densham Surgery" || types[len(types)-1] != location.TypeOrganisationRenamed {
				t.Errorf("A81001 = %+v, %v", o, types)
			}
			if o, types := db.organisation("A81002"); o.Postcode != "TS18 2AX" || types[len(types)-1] != location.TypeOrganisationPostcodeChanged {
				t.Errorf("A81002 = %+v, %v", o, types)
			}
			if o, _ := db.organisation("Z99001"); o.Type != location.CareHome || o.Version != 1 {
				t.Errorf("the care home = %+v", o)
			}

			for _, bad := range []string{noHeader, filepath.Join(dir, "missing.csv")} {
				before := db.streams()
				_, errOut := db.fails("gp", "import", bad)
				if errOut == "" {
					t.Errorf("%s: no error", bad)
				}
				db.unchanged("a file that is not a practices file", before)
			}
			if _, errOut := db.fails("gp", "import", noHeader); !containsAll(errOut, "no column code, name, postcode", "nothing imported") {
				t.Errorf("a file without a header: %q", errOut)
			}
			for _, args := range [][]string{{"gp"}, {"gp", "export"}, {"gp", "import"}, {"gp", "import", "a", "b"}} {
				if code, _, _ := db.ctl(args...); code != 2 {
					t.Errorf("capacityctl %v exited %d, want 2", args, code)
				}
			}
			if code, _, errOut := db.ctl("gp", "import", "-h"); code != 0 || !containsAll(errOut, "code", "name", "postcode") {
				t.Errorf("gp import -h: exit %d, %q", code, errOut)
			}
		})
	}
}

func containsAll(s string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
