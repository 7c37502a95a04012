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

// afterAnswer runs work after the request's answer is sent, for answers
// whose timing must not depend on what the work finds (the forgotten-
// password request: an account's address costs a lookup and an append, an
// unknown one nothing). Its failures are logged: the answer is gone.
type afterAnswer struct {
	logger *slog.Logger
	slots  chan struct{}

	mu      sync.Mutex
	running int
	idle    chan struct{} // closed while nothing runs
}

func newAfterAnswer(logger *slog.Logger) *afterAnswer {
	idle := make(chan struct{})
	close(idle)
	return &afterAnswer{logger: logger, slots: make(chan struct{}, afterAnswerSlots), idle: idle}
}

// do takes a slot, answers status with body as JSON, sends the answer,
// and then runs work in the background. It fails, having written nothing,
// only when the request ends while it waits for a slot.
func (a *afterAnswer) do(w http.ResponseWriter, r *http.Request, what string, status int, body any,
	work func(ctx context.Context) error) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
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

	// The whole answer, with its length, is sent now: the client has it
	// before the work starts, not when the handler returns.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
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

func (a *afterAnswer) done() {
	<-a.slots
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running--
	if a.running == 0 {
		close(a.idle)
	}
}

// drain waits until no work runs, or ctx ends.
func (a *afterAnswer) drain(ctx context.Context) error {
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
