package eventstore

import "sync"

// Signal wakes any number of waiters at once: C returns a channel that the
// next Broadcast closes. A waiter takes C before it looks at the state it
// waits on (say, reads the log), so a Broadcast between the look and the
// wait is never lost. The zero value is ready to use; a Broadcast with no
// waiter costs a lock and nothing else.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns the channel closed by the next Broadcast.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes everyone waiting on a channel from C.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
