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
	out, through := c.prefix(pg)
	if through < pg.through || len(out) != pg.count {
		return nil, false
	}
	return out, true
}

// prefix returns the events of pg from its start as far as cached pages
// cover it without a hole: those after pg.after up to through (pg.after
// when no page covers its start). Projections read pages of their own
// sizes from their own checkpoints, so a page often reaches a little
// beyond what the others have read: only that tail need be read from the
// log.
func (c *eventCache) prefix(pg page) ([]cachedEvent, int64) {
	if c == nil {
		return nil, pg.after
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cachedEvent
	cur := pg.after
	for cur < pg.through {
		// The page that covers the position after cur and reaches furthest.
		best := -1
		for i, p := range c.pages {
			if p.after <= cur && p.through > cur && (best < 0 || p.through > c.pages[best].through) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		p := c.pages[best]
		end := min(pg.through, p.through)
		from := sort.Search(len(p.evs), func(i int) bool { return p.evs[i].ev.Position > cur })
		for _, e := range p.evs[from:] {
			if e.ev.Position > end {
				break
			}
			if out == nil {
				out = make([]cachedEvent, 0, pg.count)
			}
			out = append(out, e)
		}
		cur = end
	}
	return out, cur
}

// readPage returns the events of pg, through ex, from the cache as far as
// it covers pg, and the rest from the log; the events with personal data
// are read from the log again.
func (b *backend) readPage(ctx context.Context, ex wsql.ContextExecutor, pg page) ([]eventstore.Event, error) {
	cached, through := b.events.prefix(pg)
	if len(cached) > pg.count {
		cached, through = nil, pg.after
	}
	var tail []cachedEvent
	if through < pg.through {
		var err error
		if tail, err = b.readFlagged(ctx, ex, nil, page{after: through, through: pg.through}); err != nil {
			return nil, err
		}
		if len(cached)+len(tail) != pg.count {
			if len(cached) > 0 {
				// Not the page the subscriber counted: read all of it from
				// the log, as if nothing were cached.
				return b.readWhole(ctx, ex, pg)
			}
			return eventsOf(tail), nil // the caller reports the count
		}
		b.events.add(page{after: through, through: pg.through, count: len(tail)}, placeholders(tail))
	}
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
	out := make([]eventstore.Event, 0, len(cached)+len(tail))
	for _, e := range cached {
		if e.personal {
			e, fresh = fresh[0], fresh[1:]
		}
		out = append(out, e.ev)
	}
	for _, e := range tail {
		out = append(out, e.ev)
	}
	return out, nil
}

// readWhole reads all of pg from the log and caches it.
func (b *backend) readWhole(ctx context.Context, ex wsql.ContextExecutor, pg page) ([]eventstore.Event, error) {
	read, err := b.readFlagged(ctx, ex, nil, pg)
	if err != nil {
		return nil, err
	}
	if len(read) == pg.count {
		b.events.add(pg, placeholders(read))
	}
	return eventsOf(read), nil
}

func eventsOf(evs []cachedEvent) []eventstore.Event {
	out := make([]eventstore.Event, len(evs))
	for i, e := range evs {
		out[i] = e.ev
	}
	return out
}

// placeholders is evs as the cache keeps them: an event with personal
// data only as its position.
func placeholders(evs []cachedEvent) []cachedEvent {
	keep := make([]cachedEvent, len(evs))
	for i, e := range evs {
		keep[i] = e
		if e.personal {
			keep[i] = cachedEvent{ev: eventstore.Event{Position: e.ev.Position}, personal: true}
		}
	}
	return keep
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
