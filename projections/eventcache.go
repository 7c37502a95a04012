package projections

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/capacitytracker/capacity/eventstore"
)

// eventCacheSize is the most events the engine's page cache holds (about
// 1 KB each).
const eventCacheSize = 20_000

// eventCache shares the events of the pages one projection read with the
// others, which read the same log a moment later: behind, the engine's
// projections read every event once each, and decoding an event (its
// metadata's JSON, its personal fields) costs more than most projections
// spend applying it.
//
// A page's range was gap-safe when it was read, so the events it holds are
// all there ever are in that range, and an event without personal data
// never changes. An event with personal data can (its subject's key may be
// deleted at any moment): the cache keeps only its position, and every
// projection reads it from the log itself. So no personal data is kept in
// memory beyond a batch, and an erasure reaches every read of the log at
// once, exactly as without the cache.
type eventCache struct {
	max int

	mu     sync.Mutex
	pages  []cachedPage // in the order they were added
	events int
}

type cachedPage struct {
	after, through int64
	evs            []cachedEvent // in log order
}

// cachedEvent is an event without personal data, or only the position of
// one with (personal).
type cachedEvent struct {
	ev       eventstore.Event
	personal bool
}

func newEventCache(maxEvents int) *eventCache { return &eventCache{max: maxEvents} }

// add records the events of a page read from the log.
func (c *eventCache) add(pg page, evs []cachedEvent) {
	if c == nil || len(evs) == 0 || len(evs) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages = append(c.pages, cachedPage{after: pg.after, through: pg.through, evs: evs})
	c.events += len(evs)
	// Drop the pages furthest behind: every projection has read them, or
	// the one that has not is far behind the others anyway.
	for c.events > c.max && len(c.pages) > 1 {
		low := 0
		for i, p := range c.pages {
			if p.through < c.pages[low].through {
				low = i
			}
		}
		c.events -= len(c.pages[low].evs)
		c.pages = append(c.pages[:low], c.pages[low+1:]...)
	}
}

// get returns the events of pg when cached pages cover its whole range;
// those with personal data are placeholders (personal) to read again.
func (c *eventCache) get(pg page) ([]cachedEvent, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]cachedEvent, 0, pg.count)
	for cur := pg.after; cur < pg.through; {
		// The page that covers the position after cur and reaches furthest.
		best := -1
		for i, p := range c.pages {
			if p.after <= cur && p.through > cur && (best < 0 || p.through > c.pages[best].through) {
				best = i
			}
		}
		if best < 0 {
			return nil, false
		}
		p := c.pages[best]
		end := min(pg.through, p.through)
		from := sort.Search(len(p.evs), func(i int) bool { return p.evs[i].ev.Position > cur })
		for _, e := range p.evs[from:] {
			if e.ev.Position > end {
				break
			}
			out = append(out, e)
		}
		cur = end
	}
	if len(out) != pg.count {
		return nil, false
	}
	return out, true
}

// readPage returns the events of pg, through ex, from the cache where it
// can: the events with personal data are read again from the log.
func (b *backend) readPage(ctx context.Context, ex wsql.ContextExecutor, pg page) ([]eventstore.Event, error) {
	if cached, ok := b.events.get(pg); ok {
		var personal []int64
		for _, e := range cached {
			if e.personal {
				personal = append(personal, e.ev.Position)
			}
		}
		var fresh []cachedEvent
		if len(personal) > 0 {
			var err error
			if fresh, err = b.readFlagged(ctx, ex, personal, page{}); err != nil {
				return nil, err
			}
			if len(fresh) != len(personal) {
				return nil, fmt.Errorf("page %d-%d: read %d of its %d events with personal data", pg.after, pg.through, len(fresh), len(personal))
			}
		}
		out := make([]eventstore.Event, len(cached))
		for i, e := range cached {
			if e.personal {
				e, fresh = fresh[0], fresh[1:]
			}
			out[i] = e.ev
		}
		return out, nil
	}
	read, err := b.readFlagged(ctx, ex, nil, pg)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Event, len(read))
	keep := make([]cachedEvent, len(read))
	for i, e := range read {
		out[i] = e.ev
		keep[i] = e
		if e.personal {
			keep[i] = cachedEvent{ev: eventstore.Event{Position: e.ev.Position}, personal: true}
		}
	}
	if len(out) == pg.count {
		b.events.add(pg, keep)
	}
	return out, nil
}

// readFlagged reads the events at positions, or else those of pg, in one
// query through ex, each flagged when it has personal data.
func (b *backend) readFlagged(ctx context.Context, ex wsql.ContextExecutor, positions []int64, pg page) ([]cachedEvent, error) {
	if b.dialect == Postgres {
		// See readEvents.
		if _, err := ex.ExecContext(ctx, "SET LOCAL jit = off"); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
	}
	s := b.schema(0)
	var q strings.Builder
	q.WriteString(s.selectFrom[:b.flagAt] + ", e.subjects IS NOT NULL " + s.selectFrom[b.flagAt:])
	var args []any
	if positions != nil {
		q.WriteString("WHERE e.position IN (?" + strings.Repeat(", ?", len(positions)-1) + ")")
		for _, p := range positions {
			args = append(args, p)
		}
	} else {
		q.WriteString("WHERE e.position > ? AND e.position <= ?")
		args = append(args, pg.after, pg.through)
	}
	q.WriteString(" ORDER BY e.position")
	rows, err := b.view(ex).QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []cachedEvent
	for rows.Next() {
		fs := flagScanner{inner: rows}
		ev, err := s.scan(&fs)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, cachedEvent{ev: ev, personal: fs.personal || len(ev.Erased) > 0})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// flagScanner scans a row of EventColumns plus one last column: whether
// the event has personal data.
type flagScanner struct {
	inner    wsql.Scanner
	personal bool
}

func (f *flagScanner) Scan(dest ...any) error {
	return f.inner.Scan(append(dest, &f.personal)...)
}

// personalFlagAt is where readFlagged adds its column to the SELECT list of
// EventColumns: before its FROM.
func personalFlagAt(selectFrom string) int {
	i := strings.LastIndex(selectFrom, "FROM events e")
	if i < 0 {
		panic("projections: the events' SELECT list has no FROM events e")
	}
	return i
}
