package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"mime"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
)

// dirEntries lists the names in dir, failing the test on error.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

func TestDirSender_WritesEMLThatNetMailParses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := testMessage()

	if err := (mailer.DirSender{Dir: dir}).Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	// testDate is 09:26:53 at UTC+1.
	wantName := "20260314T082653Z-" + m.ID + ".eml"
	if names := dirEntries(t, dir); !slices.Equal(names, []string{wantName}) {
		t.Fatalf("dir holds %q, want only %q", names, wantName)
	}
	path := filepath.Join(dir, wantName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o640 {
		t.Errorf("file mode = %v, want 0640", perm)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("file holds\n%s\nwant\n%s", raw, want)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if got := msg.Header.Get("Message-ID"); got != "<"+m.ID+"@capacity-tracker.local>" {
		t.Errorf("Message-ID = %q", got)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || from[0].Address != m.From.Email {
		t.Errorf("From = %v, %v", from, err)
	}
	if subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || subject != m.Subject {
		t.Errorf("Subject = %q, %v; want %q", subject, err, m.Subject)
	}
	if got := decodeBody(t, msg.Body); got != m.Text {
		t.Errorf("body = %q, want %q", got, m.Text)
	}
}

func TestDirSender_OverwritesSameIDAndLeavesNoTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sender := mailer.DirSender{Dir: dir}
	m := testMessage()

	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	m.Text = "Second attempt.\n"
	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("second Send: %v", err)
	}

	names := dirEntries(t, dir)
	if len(names) != 1 {
		t.Fatalf("dir holds %q, want one file", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if got := decodeBody(t, msg.Body); got != m.Text {
		t.Errorf("body = %q, want the second attempt %q", got, m.Text)
	}
}

func TestDirSender_KeepsDistinctIDsApartAndInsideDir(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "outbox", "mail") // created by Send
	sender := mailer.DirSender{Dir: dir}
	// "/" is legal in a Message-ID; "a_2fb" is what a lossy escape of
	// "a/b" might collide with.
	ids := []string{"a/b", "a_2fb", "a_b", "a-b", "a/.b", "~{}"}
	for _, id := range ids {
		m := testMessage()
		m.ID = id
		if err := sender.Send(context.Background(), m); err != nil {
			t.Fatalf("Send(%q): %v", id, err)
		}
	}

	names := dirEntries(t, dir)
	if len(names) != len(ids) {
		t.Errorf("dir holds %q, want one file per id %q", names, ids)
	}
	if got := dirEntries(t, parent); !slices.Equal(got, []string{"outbox"}) {
		t.Errorf("parent dir holds %q; a message escaped its directory", got)
	}
	for _, name := range names {
		if filepath.Ext(name) != ".eml" {
			t.Errorf("unexpected file %q", name)
		}
	}
}

func TestDirSender_InvalidMessageIsPermanent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := testMessage()
	m.To[0].Name = "Zoë\r\nBcc: victim@example.com"

	err := (mailer.DirSender{Dir: dir}).Send(context.Background(), m)
	if !mailer.IsPermanent(err) || !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Fatalf("Send = %v, want a permanent ErrInvalidMessage", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("dir holds %q, want nothing", names)
	}
}

func TestDirSender_HonoursCancelledContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := (mailer.DirSender{Dir: dir}).Send(ctx, testMessage())
	if !errors.Is(err, context.Canceled) || mailer.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary context.Canceled", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("dir holds %q, want nothing", names)
	}
}

func TestDirSender_RequiresDir(t *testing.T) {
	t.Parallel()
	if err := (mailer.DirSender{}).Send(context.Background(), testMessage()); err == nil {
		t.Fatalf("Send with no Dir succeeded")
	}
}
