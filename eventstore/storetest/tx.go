package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

func transactor(t *testing.T, s eventstore.Store) eventstore.Transactor {
	t.Helper()
	tr, ok := s.(eventstore.Transactor)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Transactor", s)
	}
	ctx := context.Background()
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS storetest_rows (k TEXT PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatalf("create storetest_rows: %v", err)
	}
	return tr
}

func countRows(t *testing.T, tr eventstore.Transactor, k string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.Query(ctx, `SELECT v FROM storetest_rows WHERE k = ?`, k)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n++
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func testInTxCommits(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	tr := transactor(t, s)
	var res []eventstore.AppendResult
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO storetest_rows (k, v) VALUES (?, ?)`, "a", "secret")
		if err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("rows affected = %d, want 1", n)
		}
		res, err = tx.Append(ctx,
			eventstore.AppendRequest{StreamID: "txa-1", Expected: eventstore.NoStream, Events: numbered(2)},
			eventstore.AppendRequest{StreamID: "txb-1", Expected: eventstore.NoStream, Events: numbered(1)})
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if len(res) != 2 || res[0].LastVersion != 2 || res[1].LastVersion != 1 {
		t.Fatalf("append results = %+v", res)
	}
	if got := countRows(t, tr, "a"); got != 1 {
		t.Errorf("row count = %d, want 1", got)
	}
	if got := versions(readStream(t, s, "txa-1", eventstore.ReadStreamOptions{})); !sameInts(got, seq(1, 2)) {
		t.Errorf("txa-1 versions = %v", got)
	}
	settle(t, s)
	if got := len(readAll(t, s)); got != 3 {
		t.Errorf("ReadAll sees %d events, want 3", got)
	}
}

func testInTxRollsBack(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	tr := transactor(t, s)
	boom := errors.New("boom")
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO storetest_rows (k, v) VALUES (?, ?)`, "b", "secret"); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: "txc-1", Expected: eventstore.NoStream, Events: numbered(1)}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v, want boom", err)
	}
	if got := countRows(t, tr, "b"); got != 0 {
		t.Errorf("rolled-back row is there (%d)", got)
	}
	if evs := readStream(t, s, "txc-1", eventstore.ReadStreamOptions{}); len(evs) != 0 {
		t.Errorf("rolled-back events are there: %d", len(evs))
	}
}

func testInTxVersionConflict(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	tr := transactor(t, s)
	mustAppend(t, s, "txd-1", eventstore.NoStream, numbered(2)...)
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO storetest_rows (k, v) VALUES (?, ?)`, "d", "secret"); err != nil {
			return err
		}
		_, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: "txd-1", Expected: eventstore.Exact(1), Events: numbered(1)})
		return err
	})
	wantWrongVersion(t, err, "txd-1", 2)
	if got := countRows(t, tr, "d"); got != 0 {
		t.Errorf("row of the conflicting transaction is there (%d)", got)
	}
}

// testInTxForgetSubject: a subject's key forgotten in a transaction that
// fails is still there (the personal data reads as written); forgotten in
// one that commits, it is gone with the events the transaction appended.
func testInTxForgetSubject(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	tr := transactor(t, s)
	subject := "user-tx-" + uuid.NewString()[:8]
	personal := eventstore.EventData{ID: uuid.New(), Type: "ContactAdded", Data: json.RawMessage(`{"name": "Tess Txname"}`),
		Personal: []eventstore.PersonalField{{Path: "name", Subject: subject}}}
	mustAppend(t, s, "txe-1", eventstore.NoStream, personal)
	name := func() any {
		t.Helper()
		evs := readStream(t, s, "txe-1", eventstore.ReadStreamOptions{})
		if len(evs) != 1 {
			t.Fatalf("txe-1 holds %d events, want 1", len(evs))
		}
		var d map[string]any
		if err := json.Unmarshal(evs[0].Data, &d); err != nil {
			t.Fatal(err)
		}
		return d["name"]
	}

	boom := errors.New("boom")
	err := tr.InTx(ctx, func(tx eventstore.Tx) error {
		if err := tx.ForgetSubject(ctx, subject); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v, want boom", err)
	}
	if got := name(); got != "Tess Txname" {
		t.Fatalf("after a rolled-back ForgetSubject the name reads %v, want it as written", got)
	}

	err = tr.InTx(ctx, func(tx eventstore.Tx) error {
		if err := tx.ForgetSubject(ctx, subject); err != nil {
			return err
		}
		_, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: "txf-1", Expected: eventstore.NoStream, Events: numbered(1)})
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if got := name(); got != nil {
		t.Errorf("after a committed ForgetSubject the name reads %v, want null", got)
	}
	if evs := readStream(t, s, "txf-1", eventstore.ReadStreamOptions{}); len(evs) != 1 {
		t.Errorf("the event appended with the ForgetSubject: %d events, want 1", len(evs))
	}
}
