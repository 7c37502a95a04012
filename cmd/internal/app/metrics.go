package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Metric names, exported so that tests and dashboards agree on them.
const (
	MetricAppendRequests  = "capacity_eventstore_append_requests_total"
	MetricAppendedEvents  = "capacity_eventstore_appended_events_total"
	MetricAppendDuration  = "capacity_eventstore_append_duration_seconds"
	MetricProjPosition    = "capacity_projection_checkpoint_position"
	MetricProjHead        = "capacity_projection_head_position"
	MetricProjLagEvents   = "capacity_projection_lag_events"
	MetricProjLagSeconds  = "capacity_projection_lag_seconds"
	MetricProjPoison      = "capacity_projection_poison_events"
	MetricProjRunning     = "capacity_projection_running"
	MetricProjStatusError = "capacity_projection_status_errors_total"
	MetricProjCommitted   = "capacity_projection_committed_events_total"
	MetricProjPoisoned    = "capacity_projection_poisoned_events_total"
)

// StoreMetrics counts and times appends to the event store.
type StoreMetrics struct {
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewStoreMetrics creates the append metrics and registers them with reg.
func NewStoreMetrics(reg prometheus.Registerer) (*StoreMetrics, error) {
	m := &StoreMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAppendRequests,
			Help: "Calls of Append and AppendMany by method and outcome (ok, conflict, rejected, error).",
		}, []string{"method", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAppendedEvents,
			Help: "Events appended to the log (successful appends only, retries of stored appends included).",
		}, []string{"method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricAppendDuration,
			Help:    "Latency of Append and AppendMany, whatever the outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.events, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Publish the series at zero so that dashboards see them before the
	// first append.
	for _, method := range []string{"Append", "AppendMany"} {
		m.events.WithLabelValues(method)
		m.duration.WithLabelValues(method)
		m.requests.WithLabelValues(method, "ok")
	}
	return m, nil
}

// Requests is the counter of append calls by method and outcome.
func (m *StoreMetrics) Requests() *prometheus.CounterVec { return m.requests }

// Events is the counter of appended events by method.
func (m *StoreMetrics) Events() *prometheus.CounterVec { return m.events }

func (m *StoreMetrics) observe(method string, start time.Time, events int, err error) {
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(method, outcome(err)).Inc()
	if err == nil {
		m.events.WithLabelValues(method).Add(float64(events))
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return "conflict"
	case errors.Is(err, eventstore.ErrInvalidStreamID), errors.Is(err, eventstore.ErrInvalidExpectedVersion),
		errors.Is(err, eventstore.ErrEventTooLarge), errors.Is(err, eventstore.ErrTooManyEvents),
		errors.Is(err, eventstore.ErrNoEvents), errors.Is(err, eventstore.ErrInvalidEvent),
		errors.Is(err, eventstore.ErrDuplicateEventID):
		return "rejected"
	default:
		return "error"
	}
}

// instrumentedStore is an eventstore.Store that measures appends and passes
// every call through.
type instrumentedStore struct {
	eventstore.Store
	m *StoreMetrics
}

// InstrumentStore wraps s so that Append and AppendMany are counted and
// timed in m. Reads pass through untouched.
func InstrumentStore(s eventstore.Store, m *StoreMetrics) eventstore.Store {
	return &instrumentedStore{Store: s, m: m}
}

func (s *instrumentedStore) Append(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, streamID, expected, events...)
	s.m.observe("Append", start, len(events), err)
	return res, err
}

func (s *instrumentedStore) AppendMany(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.AppendMany(ctx, reqs)
	n := 0
	for _, r := range reqs {
		n += len(r.Events)
	}
	s.m.observe("AppendMany", start, n, err)
	return res, err
}

// ProjectionCollector exposes the projection engine's status as gauges,
// asking the engine at every scrape so that the numbers are never stale, and
// counts committed and poisoned events as the engine's Observer.
type ProjectionCollector struct {
	engine  *projections.Engine
	logger  *slog.Logger
	timeout time.Duration

	position, head, lagEvents, lagSeconds, poison, running *prometheus.Desc
	statusErrors                                           prometheus.Counter
	committed, poisoned                                    *prometheus.CounterVec
}

var _ projections.Observer = (*ProjectionCollector)(nil)

// NewProjectionCollector returns a collector over engine and makes it the
// engine's observer; register it with a prometheus.Registerer.
func NewProjectionCollector(engine *projections.Engine, logger *slog.Logger) *ProjectionCollector {
	label := []string{"projection"}
	c := &ProjectionCollector{
		engine:     engine,
		logger:     logger,
		timeout:    5 * time.Second,
		position:   prometheus.NewDesc(MetricProjPosition, "Global position of the last event the projection has committed.", label, nil),
		head:       prometheus.NewDesc(MetricProjHead, "Global position of the last event readable from the log.", label, nil),
		lagEvents:  prometheus.NewDesc(MetricProjLagEvents, "Events in the log that the projection has not handled yet.", label, nil),
		lagSeconds: prometheus.NewDesc(MetricProjLagSeconds, "Age of the oldest event the projection has not handled yet.", label, nil),
		poison:     prometheus.NewDesc(MetricProjPoison, "Events the projection gave up on (poison queue).", label, nil),
		running:    prometheus.NewDesc(MetricProjRunning, "1 when the projection runs on this server (with several servers on one PostgreSQL database, on the one that holds its lease).", label, nil),
		statusErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricProjStatusError,
			Help: "Scrapes at which the projection status could not be read.",
		}),
		committed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricProjCommitted,
			Help: "Events applied or poisoned in committed batches, by projection (this process only).",
		}, label),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricProjPoisoned,
			Help: "Events recorded as poison, by projection (this process only).",
		}, label),
	}
	engine.SetObserver(c)
	return c
}

// Committed implements projections.Observer.
func (c *ProjectionCollector) Committed(projection string, _ int64, events int) {
	c.committed.WithLabelValues(projection).Add(float64(events))
}

// Poisoned implements projections.Observer.
func (c *ProjectionCollector) Poisoned(projection string, position int64, eventType string, err error) {
	c.poisoned.WithLabelValues(projection).Inc()
	c.logger.Error("projection gave up on an event", "projection", projection, "position", position, "type", eventType, "err", err)
}

// Describe implements prometheus.Collector.
func (c *ProjectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.position, c.head, c.lagEvents, c.lagSeconds, c.poison, c.running} {
		ch <- d
	}
	c.statusErrors.Describe(ch)
	c.committed.Describe(ch)
	c.poisoned.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *ProjectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	statuses, err := c.engine.Status(ctx)
	if err != nil {
		c.statusErrors.Inc()
		c.logger.Warn("read projection status for metrics", "err", err)
	}
	for _, s := range statuses {
		// Publish the counters at zero for every projection.
		c.committed.WithLabelValues(s.Name)
		c.poisoned.WithLabelValues(s.Name)
		running := 0.0
		if s.Running {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(s.Checkpoint), s.Name)
		ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(s.Head), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(s.LagEvents), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, s.LagSeconds, s.Name)
		ch <- prometheus.MustNewConstMetric(c.poison, prometheus.GaugeValue, float64(s.PoisonCount), s.Name)
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, running, s.Name)
	}
	c.statusErrors.Collect(ch)
	c.committed.Collect(ch)
	c.poisoned.Collect(ch)
}
