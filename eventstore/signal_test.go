package eventstore_test

import (
	"testing"

	"github.com/capacitytracker/capacity/eventstore"
)

func TestSignal_BroadcastWakesWaitersTakenBefore(t *testing.T) {
	var s eventstore.Signal
	s.Broadcast() // nobody waits: nothing to wake, nothing remembered
	a, b := s.C(), s.C()
	select {
	case <-a:
		t.Fatal("closed before any Broadcast")
	default:
	}
	s.Broadcast()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a channel taken before Broadcast is still open")
		}
	}
	select {
	case <-s.C():
		t.Fatal("a channel taken after Broadcast is closed already")
	default:
	}
}
