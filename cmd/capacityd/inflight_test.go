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
	// With Expect: 100-continue the server says "100 Continue" when the
	// handler starts to read the body: from then on the request is in
	// flight, whatever the scheduling of the two processes.
	head := "POST /api/v1/password-resets HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(stopTimeout)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", status, err)
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
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
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
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
