package projections

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Several capacityd processes (nodes) on one PostgreSQL database share
// out the projections: each projection runs on one node at a time, and
// the projections spread across the live nodes.
//
// A node holds a projection's lease as a session-level advisory lock
// (leaseKey) on a connection of its own, opened when its engine starts.
// The server drops the locks when the session ends, which a node's does
// when it stops, when it is killed (even by SIGKILL: the kernel closes the
// socket), when its connection is lost, and when it stops talking for
// longer than idle_session_timeout (a frozen process or host). Nothing
// else marks ownership, so there is no lease row to expire or to steal.
//
// Every node runs a rebalance round every leaseInterval on that
// connection: it records a heartbeat in projection_nodes, reads the live
// nodes that run the same projections and the leases each holds (pg_locks
// joined to projection_nodes by session), and with target = ceil(projections
// / live nodes):
//   - a node holding more than target while another holds fewer releases
//     its extras (after the batch in flight commits);
//   - a node holding fewer than target takes free ones.
//
// A node that joins, gives leases up or stops says so on leasesChannel
// (NOTIFY), and the others run their round at once. So a second node
// starting takes half the projections within moments, a node stopping
// hands its projections over at once, and a killed node's move to the
// others at their next round. A node is live while its lease session exists and its
// heartbeat is recent; the session check makes a killed node's death seen
// at once, the heartbeat guards against a recycled backend pid and a node
// whose rounds stopped.
//
// Taking over is exactly-once because of what already held before leases:
// every batch takes the projection's transaction-level advisory lock and
// reads the checkpoint after it, and commits its rows with the checkpoint.
// The lease only decides where batches run.
//
// The node holding the scheduled-jobs lease (jobsLeaseName) runs the
// server's scheduled jobs (Engine.RunsScheduledJobs).
const (
	leaseInterval = 2 * time.Second
	// nodeForgotten is how long the row of a node gone stays, for the
	// operator who looks.
	nodeForgotten = time.Hour
	// releaseDrain bounds the wait for the batches in flight before
	// leases are released anyway (the batch lock keeps the next owner
	// waiting); well under idleTimeout, which would end the session.
	releaseDrain  = 3 * time.Second
	jobsLeaseName = "scheduled jobs"
	// leasesChannel is where a node says that it joined, gave leases up
	// or is leaving: the others run their round at once rather than at
	// their next tick.
	leasesChannel = "capacity_projection_leases"
)

// leaseKey is the session advisory lock that is a projection's lease,
// apart from projectionLockKey (one batch) and lockID (rebuilds and jobs).
func leaseKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("capacity-lease:" + name))
	return int64(h.Sum64())
}

// advisoryKeySQL rebuilds a bigint advisory lock key from its pg_locks row
// (the high half in classid, the low half in objid, objsubid 1).
const advisoryKeySQL = `((l.classid::bigint << 32) | l.objid::bigint)`

// leases is one engine run's side of the sharing: it opens the gates of
// the projections whose leases it holds.
type leases struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	names  []string
	gates  map[string]*gate
	every  time.Duration
	jobs   *atomic.Bool
	node   string // this run's id in projection_nodes
	guest  bool   // see Engine.SetGuest
	set    string // fingerprint of names
	done   chan struct{}

	// Owned by the rebalance loop, then by stop.
	conn     *pgx.Conn
	held     map[string]bool
	heldJobs bool
}

// startLeases opens the gates of the projections this run may apply. On
// SQLite, one server on its file, it opens them all at once. On
// PostgreSQL it starts the rebalance loop, which runs until ctx ends; stop
// then releases the leases.
func (e *Engine) startLeases(ctx context.Context) *leases {
	l := &leases{pool: e.b.locks.pool, logger: e.logger, names: e.Names(), gates: e.gates, every: e.leaseEvery,
		jobs: &e.jobs, node: newNodeID(), set: projectionSet(e.Names()), held: map[string]bool{}, guest: e.guest}
	if l.pool == nil {
		for _, g := range l.gates {
			g.setOpen(true)
		}
		l.jobs.Store(true)
		return l
	}
	l.done = make(chan struct{})
	go l.loop(ctx)
	return l
}

func newNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// projectionSet fingerprints a set of projection names: nodes share out
// the projections with the nodes that run the same set.
func projectionSet(names []string) string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
	return hex.EncodeToString(sum[:8])
}

// liveWindow is how old a node's heartbeat may be for it to count as live.
func (l *leases) liveWindow() time.Duration { return max(5*l.every, 3*time.Second) }

// idleTimeout ends the lease session of a node that stops talking.
func (l *leases) idleTimeout() time.Duration { return max(5*l.every, 10*time.Second) }

func (l *leases) loop(ctx context.Context) {
	defer close(l.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := l.round(ctx); err != nil && ctx.Err() == nil {
			l.logger.Warn("projection leases: lost the node's lease connection; its projections pause until it reconnects",
				"node", l.node, "held", len(l.held), "err", err)
			l.drop()
		}
		if l.conn == nil {
			timer.Reset(l.every)
			continue
		}
		// Until the next tick, or another node's news. An error here
		// (other than the wait running out) shows at the next round.
		wait, cancel := context.WithTimeout(ctx, l.every)
		_, _ = l.conn.WaitForNotification(wait)
		cancel()
		timer.Reset(0)
	}
}

// announce tells the other nodes to run their round now.
func (l *leases) announce(ctx context.Context) error {
	_, err := l.conn.Exec(ctx, `SELECT pg_notify($1, $2)`, leasesChannel, l.node)
	return err
}

// drop forgets every lease after the connection failed: the server has
// released them, or will when it notices.
func (l *leases) drop() {
	for name := range l.held {
		l.gates[name].setOpen(false)
	}
	clear(l.held)
	l.heldJobs = false
	l.jobs.Store(false)
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// stop ends the loop and releases every lease at once (by ending the
// session), after the engine's router stopped: its last batches have
// committed, and other nodes take the projections over at their next
// round.
func (l *leases) stop() {
	for _, g := range l.gates {
		g.setOpen(false)
	}
	l.jobs.Store(false)
	if l.done == nil {
		return
	}
	<-l.done
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Leave the live nodes, give the leases up, then tell the others.
	_, _ = l.conn.Exec(ctx, `DELETE FROM projection_nodes WHERE id = $1`, l.node)
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	_ = l.announce(ctx)
	_ = l.conn.Close(ctx)
	l.logger.Info("projection leases released", "node", l.node, "projections", len(l.held))
}

// connect opens the lease session and registers the node.
func (l *leases) connect(ctx context.Context) error {
	cfg := l.pool.Config().ConnConfig.Copy()
	// Shown in pg_stat_activity, so that an operator sees which session
	// holds a node's leases.
	cfg.RuntimeParams["application_name"] = truncate("capacity node "+l.node, 63)
	// A node that stops talking (frozen, or its host gone) loses its
	// leases: the server ends its idle session, and TCP keepalives find a
	// peer that vanished.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if l.guest {
		l.conn = conn // not a node: nothing to register or announce
		return nil
	}
	// Set after connecting, not as a startup parameter: a server before
	// PostgreSQL 14 does not know it, and would refuse the connection.
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET idle_session_timeout = %d", l.idleTimeout().Milliseconds())); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			_ = conn.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("set idle_session_timeout: %w", err)
		}
		l.logger.Warn("projection leases: a frozen node keeps its leases until its connection drops", "err", err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO projection_nodes (id, owner, projections, backend_pid) VALUES ($1, $2, $3, pg_backend_pid())
		ON CONFLICT (id) DO UPDATE SET backend_pid = excluded.backend_pid, heartbeat_at = now()`, l.node, owner(), l.set)
	if err == nil {
		// Rows of nodes long gone, and of the node whose session this
		// backend pid was.
		_, err = conn.Exec(ctx, `DELETE FROM projection_nodes WHERE id <> $1
			AND (backend_pid = pg_backend_pid() OR heartbeat_at < now() - make_interval(secs => $2))`, l.node, nodeForgotten.Seconds())
	}
	if err == nil {
		_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{leasesChannel}.Sanitize())
	}
	if err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("register node: %w", err)
	}
	l.conn = conn
	return l.announce(ctx)
}

// round is one rebalance: heartbeat, read who holds what, release extras,
// take free leases.
func (l *leases) round(ctx context.Context) error {
	if l.conn == nil {
		if err := l.connect(ctx); err != nil {
			return err
		}
	}
	counts, taken, err := l.survey(ctx)
	if err != nil {
		return err
	}
	counts[l.node] = len(l.held) // this node is live, whatever the survey saw
	target := (len(l.names) + len(counts) - 1) / len(counts)
	if l.guest {
		target = len(l.names) // what no node runs, and never more
	}
	short := false // another live node holds fewer than target
	for node, n := range counts {
		if node != l.node && n < target {
			short = true
		}
	}

	if extra := len(l.held) - target; extra > 0 && short && !l.guest {
		mine := l.ranked(func(name string) bool { return l.held[name] })
		if err := l.release(ctx, mine[len(mine)-extra:]); err != nil {
			return err
		}
		if err := l.announce(ctx); err != nil {
			return err
		}
	}
	if len(l.held) < target {
		free := l.ranked(func(name string) bool { return !l.held[name] && !taken[leaseKey(name)] })
		for _, name := range free {
			if len(l.held) >= target {
				break
			}
			ok, err := l.tryLock(ctx, leaseKey(name))
			if err != nil {
				return fmt.Errorf("take the lease of %s: %w", name, err)
			}
			if ok {
				l.held[name] = true
				l.gates[name].setOpen(true)
				l.logger.Info("projection lease taken", "projection", name, "node", l.node, "live_nodes", len(counts), "target", target)
			}
		}
	}
	if !l.heldJobs && !l.guest && !taken[leaseKey(jobsLeaseName)] {
		ok, err := l.tryLock(ctx, leaseKey(jobsLeaseName))
		if err != nil {
			return fmt.Errorf("take the scheduled jobs' lease: %w", err)
		}
		if ok {
			l.heldJobs = true
			l.jobs.Store(true)
			l.logger.Info("scheduled jobs lease taken: this node runs the scheduled jobs", "node", l.node)
		}
	}
	return nil
}

// survey records the node's heartbeat and reads the live nodes that run
// the same projections, with how many of those projections' leases each
// holds, and every lease key held by anyone (a node of another version
// included). One statement, so one transaction per round: an idle server's
// share of the database's load.
func (l *leases) survey(ctx context.Context) (counts map[string]int, taken map[int64]bool, err error) {
	var beat int
	var nodes []string
	var nodePids, lockPids []int32
	var lockKeys []int64
	err = l.conn.QueryRow(ctx, `WITH beat AS (
		UPDATE projection_nodes SET heartbeat_at = now(), backend_pid = pg_backend_pid() WHERE id = $1 RETURNING id
	), live AS (
		SELECT n.id, n.backend_pid FROM projection_nodes n
		WHERE n.projections = $2 AND n.heartbeat_at > now() - make_interval(secs => $3)
		  AND n.backend_pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())
	), locks AS (
		SELECT l.pid, `+advisoryKeySQL+` AS key FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	)
	SELECT (SELECT count(*) FROM beat),
		ARRAY(SELECT id FROM live ORDER BY id), ARRAY(SELECT backend_pid FROM live ORDER BY id),
		ARRAY(SELECT pid FROM locks ORDER BY pid, key), ARRAY(SELECT key FROM locks ORDER BY pid, key)`,
		l.node, l.set, l.liveWindow().Seconds()).Scan(&beat, &nodes, &nodePids, &lockPids, &lockKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("heartbeat and survey: %w", err)
	}
	if beat == 0 && !l.guest {
		// Deleted by another node (its clock far ahead?): register again.
		if _, err := l.conn.Exec(ctx, `INSERT INTO projection_nodes (id, owner, projections, backend_pid) VALUES ($1, $2, $3, pg_backend_pid())`,
			l.node, owner(), l.set); err != nil {
			return nil, nil, fmt.Errorf("register node: %w", err)
		}
	}
	mine := map[int64]bool{}
	for _, name := range l.names {
		mine[leaseKey(name)] = true
	}
	byPid := map[int32]string{}
	counts = map[string]int{}
	for i, id := range nodes {
		byPid[nodePids[i]] = id
		counts[id] = 0
	}
	taken = map[int64]bool{}
	for i, key := range lockKeys {
		taken[key] = true
		if id, ok := byPid[lockPids[i]]; ok && mine[key] {
			counts[id]++
		}
	}
	return counts, taken, nil
}

// ranked lists the projections that match keep, this node's favourites
// first (rendezvous hashing on the node's id): nodes prefer different
// projections, so they rarely reach for the same free lease.
func (l *leases) ranked(keep func(string) bool) []string {
	var out []string
	for _, name := range l.names {
		if keep(name) {
			out = append(out, name)
		}
	}
	score := func(name string) uint64 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(l.node + "/" + name))
		return h.Sum64()
	}
	slices.SortFunc(out, func(a, b string) int {
		sa, sb := score(a), score(b)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return strings.Compare(a, b)
	})
	return out
}

func (l *leases) tryLock(ctx context.Context, key int64) (bool, error) {
	var ok bool
	err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok)
	return ok, err
}

// release gives projections up: no new batch begins here, the ones in
// flight commit (all drained together, under one bound), then the leases
// go.
func (l *leases) release(ctx context.Context, names []string) error {
	for _, name := range names {
		l.gates[name].setOpen(false)
	}
	drainCtx, cancel := context.WithTimeout(ctx, releaseDrain)
	for _, name := range names {
		l.gates[name].drain(drainCtx)
	}
	cancel()
	for _, name := range names {
		delete(l.held, name)
		var ok bool
		if err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, leaseKey(name)).Scan(&ok); err != nil {
			return fmt.Errorf("release the lease of %s: %w", name, err)
		}
		l.logger.Info("projection lease released for another node", "projection", name, "node", l.node)
	}
	return nil
}

// leaseOwners maps each projection whose lease a registered node holds to
// that node's owner (program, pid, host). Empty on SQLite.
func (e *Engine) leaseOwners(ctx context.Context) (map[string]string, error) {
	pool := e.b.locks.pool
	if pool == nil {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT `+advisoryKeySQL+`, n.owner || ' (node ' || n.id || ')'
		FROM pg_locks l JOIN projection_nodes n ON n.backend_pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		ORDER BY n.heartbeat_at`)
	if err != nil {
		return nil, fmt.Errorf("read the projections' owners: %w", err)
	}
	byKey := map[int64]string{}
	for _, name := range e.Names() {
		byKey[leaseKey(name)] = name
	}
	out := map[string]string{}
	var key int64
	var who string
	_, err = pgx.ForEachRow(rows, []any{&key, &who}, func() error {
		if name, ok := byKey[key]; ok {
			out[name] = who
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the projections' owners: %w", err)
	}
	return out, nil
}

// SetLeaseInterval sets how often the engine rebalances the projections'
// leases with the other nodes (two seconds by default). Call it before
// Run.
func (e *Engine) SetLeaseInterval(d time.Duration) {
	if d > 0 {
		e.leaseEvery = d
	}
}

// RunsScheduledJobs reports whether this node runs the server's scheduled
// jobs: on PostgreSQL the one node that holds the scheduled jobs' lease,
// on SQLite the running engine.
func (e *Engine) RunsScheduledJobs() bool { return e.jobs.Load() }

// SetGuest makes the engine a guest of the nodes that share the
// projections (PostgreSQL): it runs only projections that no node runs,
// takes no share from the nodes (it does not count as one), and never runs
// the scheduled jobs. capacityctl's engines are guests: a short command
// that needs a read model current must not pull a server's projections to
// itself. Call it before Run.
func (e *Engine) SetGuest() { e.guest = true }
