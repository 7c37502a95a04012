package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// afterAnswerSlots bounds the work running after answers at once: a burst
// of such requests waits for a slot (before its answer, the same for every
// request) instead of piling up goroutines and database connections.
const afterAnswerSlots = 8

// afterAnswerTimeout bounds one piece of such work.
const afterAnswerTimeout = 30 * time.Second

// AfterAnswer runs work after the request's answer is sent, for answers
// whose timing must not depend on what the work finds (the forgotten-
// password request: an account's address costs a lookup and an append, an
// unknown one nothing). Its failures are logged: the answer is gone.
//
// One serves both ports (the API and the pages), so that one bound holds
// for them together and one Drain at shutdown waits for all their work.
type AfterAnswer struct {
	logger *slog.Logger
	slots  chan struct{}

	mu      sync.Mutex
	running int
	idle    chan struct{} // closed while nothing runs
}

// NewAfterAnswer makes the runner of work after answers; give it to every
// port's Options and Drain it after the HTTP server has shut down.
func NewAfterAnswer(logger *slog.Logger) *AfterAnswer {
	idle := make(chan struct{})
	close(idle)
	return &AfterAnswer{logger: logger, slots: make(chan struct{}, afterAnswerSlots), idle: idle}
}

// doJSON is Do with an answer of status and body as JSON.
func (a *AfterAnswer) doJSON(w http.ResponseWriter, r *http.Request, what string, status int, body any,
	work func(ctx context.Context) error) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return a.Do(w, r, what, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(status)
		_, _ = w.Write(data)
	}, work)
}

// Do takes a slot, writes the answer with answer (the whole of it, with
// its Content-Length, so that the client knows it has it all), sends it,
// and then runs work in the background. It fails, having written nothing,
// only when the request ends while it waits for a slot.
func (a *AfterAnswer) Do(w http.ResponseWriter, r *http.Request, what string, answer func(w http.ResponseWriter),
	work func(ctx context.Context) error) error {
	select {
	case a.slots <- struct{}{}:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	a.mu.Lock()
	if a.running == 0 {
		a.idle = make(chan struct{})
	}
	a.running++
	a.mu.Unlock()

	// The answer is sent now: the client has it before the work starts,
	// not when the handler returns.
	answer(w)
	_ = http.NewResponseController(w).Flush()
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer a.done()
		ctx, cancel := context.WithTimeout(ctx, afterAnswerTimeout)
		defer cancel()
		if err := work(ctx); err != nil {
			a.logger.ErrorContext(ctx, "work after the answer failed", "work", what, "err", err)
		}
	}()
	return nil
}

func (a *AfterAnswer) done() {
	<-a.slots
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running--
	if a.running == 0 {
		close(a.idle)
	}
}

// Drain waits until no work runs, or ctx ends.
func (a *AfterAnswer) Drain(ctx context.Context) error {
	a.mu.Lock()
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
