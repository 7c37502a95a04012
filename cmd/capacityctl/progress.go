package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws one line on a terminal (stderr), redrawn in place
// (when stderr is not a terminal it prints a new line every few seconds
// instead, so that logs stay readable):
//
//	search  [#########...........]  45.2%  12345/27300 events  3400 events/s  ETA 4s
//
// Rate and ETA are the rebuild's own when it reports them, otherwise the
// average since the start.
type progressBar struct {
	w        io.Writer
	tty      bool
	name     string
	now      func() time.Time
	start    time.Time
	lastDraw time.Time
	done     int64
	total    int64
	rate     float64
	eta      time.Duration
	drawn    bool
}

const (
	barWidth          = 30
	redrawInterval    = 100 * time.Millisecond
	plainLineInterval = 5 * time.Second
)

func newProgressBar(w io.Writer, name string, now func() time.Time) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), name: name, now: now, start: now()}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (b *progressBar) update(done, total int64, rate float64, eta time.Duration) {
	b.done, b.total, b.rate, b.eta = done, total, rate, eta
	interval := redrawInterval
	if !b.tty {
		interval = plainLineInterval
	}
	if t := b.now(); b.drawn && t.Sub(b.lastDraw) < interval {
		return
	}
	b.draw()
}

func (b *progressBar) draw() {
	b.lastDraw = b.now()
	b.drawn = true
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.line())
		return
	}
	fmt.Fprintln(b.w, b.line())
}

// line renders the bar's current state.
func (b *progressBar) line() string {
	elapsed := b.now().Sub(b.start)
	frac := 1.0
	if b.total > 0 {
		frac = min(float64(b.done)/float64(b.total), 1)
	}
	filled := int(frac * barWidth)
	rate := b.rate
	if rate <= 0 && elapsed > 0 {
		rate = float64(b.done) / elapsed.Seconds()
	}
	eta := "?"
	switch {
	case b.done >= b.total:
		eta = "0s"
	case b.eta > 0:
		eta = b.eta.Round(time.Second).String()
	case rate > 0:
		eta = time.Duration(float64(b.total-b.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s  [%s%s] %5.1f%%  %d/%d events  %.0f events/s  ETA %s",
		b.name, strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), frac*100, b.done, b.total, rate, eta)
}

// finish draws the final state and ends the line.
func (b *progressBar) finish(err error) {
	end := fmt.Sprintf("  done in %s", b.now().Sub(b.start).Round(time.Millisecond))
	if err != nil {
		end = "  failed"
	}
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K%s\n", b.line(), end)
		return
	}
	fmt.Fprintln(b.w, b.line()+end)
}
