package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/domain/history"
)

// TestReplay_PrintsStateDiffAndTimeline of an organisation renamed by a
// second GP import.
func TestReplay_PrintsStateDiffAndTimeline(t *testing.T) {
	t.Parallel()
	db := newCtlDB(t, app.KindSQLite)
	db.must("gp", "import", gpSampleFile)
	dir := t.TempDir()
	renamed := dir + "/renamed.csv"
	writeFile(t, renamed, "code,name,postcode\nA81002,Queens Park Surgery,TS18 2AW\n")
	db.must("gp", "import", renamed)

	var st history.State
	decode(t, db.must("replay", "organisation-A81002"), &st)
	if st.Version != 2 || st.State.(map[string]any)["name"] != "Queens Park Surgery" {
		t.Fatalf("latest state = %+v", st)
	}
	decode(t, db.must("replay", "organisation-A81002", "--version", "1"), &st)
	if st.Version != 1 || st.State.(map[string]any)["name"] != "Queens Park Medical Centre" {
		t.Fatalf("state at version 1 = %+v", st)
	}
	var diff struct {
		Changes []history.Change `json:"changes"`
	}
	decode(t, db.must("replay", "organisation-A81002", "--diff-from", "1"), &diff)
	if len(diff.Changes) != 2 || diff.Changes[0].Field != "name" || diff.Changes[0].After != "Queens Park Surgery" {
		t.Fatalf("diff = %+v", diff)
	}
	var tl []history.Entry
	decode(t, db.must("replay", "organisation-A81002", "--timeline"), &tl)
	if len(tl) != 2 || tl[1].ActorAccountKind != "system" || !strings.Contains(tl[1].Summary, "name") {
		t.Fatalf("timeline = %+v", tl)
	}
	if _, errOut := db.fails("replay", "organisation-NOPE"); !strings.Contains(errOut, "not found") {
		t.Fatalf("an unknown stream: %q", errOut)
	}
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
