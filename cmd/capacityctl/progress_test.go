package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBar_ShowsPercentageRateAndETA(t *testing.T) {
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	clock := start
	now := func() time.Time { return clock }
	var buf bytes.Buffer
	bar := newProgressBar(&buf, "search", now)

	clock = start.Add(2 * time.Second)
	if got, want := (func() string { bar.update(500, 2000, 250, 6*time.Second); return bar.line() })(),
		"search  [#######.......................]  25.0%  500/2000 events  250 events/s  ETA 6s"; got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
	// Without the rebuild's own rate and ETA, the bar works them out.
	bar.update(1000, 2000, 0, 0)
	if got := bar.line(); !strings.Contains(got, "50.0%") || !strings.Contains(got, "500 events/s") || !strings.Contains(got, "ETA 2s") {
		t.Errorf("line = %q, want 50%%, 500 events/s, ETA 2s", got)
	}
	clock = start.Add(4 * time.Second)
	bar.update(2000, 2000, 0, 0)
	bar.finish(nil)
	out := buf.String()
	if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
		t.Errorf("output to a non-terminal contains terminal controls: %q", out)
	}
	if !strings.HasSuffix(out, "100.0%  2000/2000 events  500 events/s  ETA 0s  done in 4s\n") {
		t.Errorf("final line = %q", out)
	}
}
