package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// settleBackground waits, bounded, for the work the server's requests
// left running after their answers (the forgotten-password lookup).
func settleBackground(tb testing.TB, srv *httpapi.Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Drain(ctx); err != nil {
		tb.Fatalf("work after the answers did not finish: %v", err)
	}
}
