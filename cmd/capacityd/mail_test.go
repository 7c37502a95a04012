package main

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
)

// TestCapacityd_MailsTheSetPasswordLinkOfASupportAccountCapacityctlCreated:
// only capacityd sends mail. capacityctl creates a support account (its
// events queue a set-password email) and sends nothing; capacityd, started
// on the same embedded default, writes the email as an .eml file under
// ./data/mail through its mail port.
func TestCapacityd_MailsTheSetPasswordLinkOfASupportAccountCapacityctlCreated(t *testing.T) {
	ctl := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", false)
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityd", raceEnabled)
	dir := t.TempDir()
	mailDir := filepath.Join(dir, "data", "mail")

	p := proctest.Start(t, dir, proctest.Env(), ctl,
		"accounts", "create-support", "--email", "sam.support@example.nhs.uk", "--name", "Sam Support")
	if code := p.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("capacityctl accounts create-support: exit %d", code)
	}
	if files := emlFiles(t, mailDir); len(files) != 0 {
		t.Fatalf("capacityctl wrote %v: only capacityd sends mail", files)
	}

	addr := proctest.FreeAddr(t)
	s := &server{Process: proctest.Start(t, dir, proctest.Env(), bin, "-addr", addr, "-log-level", "debug"),
		base: "http://" + addr, dir: dir}
	s.WaitHTTP(t, s.base+"/readyz", http.StatusOK, readyTimeout)
	var files []string
	deadline := time.Now().Add(readyTimeout) // a hang guard, not a speed check
	for len(files) == 0 && time.Now().Before(deadline) && !s.Exited() {
		time.Sleep(50 * time.Millisecond)
		files = emlFiles(t, mailDir)
	}
	stopCleanly(t, s)
	if len(files) != 1 {
		t.Fatalf("capacityd wrote %d .eml files (%v), want the set-password email", len(files), files)
	}

	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := netmail.ReadMessage(f)
	if err != nil {
		t.Fatalf("parse %s: %v", files[0], err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "sam.support@example.nhs.uk" || to[0].Name != "Sam Support" {
		t.Errorf("To %v (%v), want Sam Support <sam.support@example.nhs.uk>", to, err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "noreply@capacity-tracker.local" {
		t.Errorf("From %v (%v), want the default sender", from, err)
	}
	if subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); subject != "Capacity Tracker: set your password" {
		t.Errorf("Subject %q", subject)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "http://127.0.0.1:8080/set-password?token=") {
		t.Errorf("the email has no set-password link at the default public URL:\n%s", body)
	}
}

// emlFiles lists the .eml files in dir.
func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}
