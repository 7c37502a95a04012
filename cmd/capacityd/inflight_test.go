package main

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
)

// TestCapacityd_RequestInFlightAtSIGTERMIsAnswered sends half a request,
// stops the server, then sends the rest: the server must answer it before
// it exits, and refuse new connections meanwhile.
func TestCapacityd_RequestInFlightAtSIGTERMIsAnswered(t *testing.T) {
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityd", raceEnabled)
	s := startServer(t, bin)
	s.WaitHTTP(t, s.base+"/readyz", http.StatusOK, readyTimeout)
	addr := strings.TrimPrefix(s.base, "http://")

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"nobody@example.nhs.uk"}`
	head := "POST /api/v1/password-resets HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + body[:10])); err != nil {
		t.Fatal(err)
	}
	// The handler is now reading the body. Stop the server and wait until
	// it has begun to drain.
	s.Signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(stopTimeout)
	for !strings.Contains(s.Stderr.String(), "shutdown requested") {
		if time.Now().After(deadline) {
			t.Fatal("the server never logged the shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A new connection is refused while the old request is in flight.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the draining server accepted a new connection")
	}
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(stopTimeout)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight request answered %d, want 202", resp.StatusCode)
	}
	if code := s.Wait(t, stopTimeout); code != 0 {
		t.Fatalf("capacityd exited with %d, want 0", code)
	}
}
