package httpapi

import (
	"testing"
)

func TestResolveClientAddress(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7, ::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"untrusted peer's header is ignored", "198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer", "10.1.2.3:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"what the client wrote is not believed", "10.1.2.3:443", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"proxies in a chain", "192.0.2.7:80", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several header lines", "10.1.2.3:443", []string{"1.1.1.1", "203.0.113.9, 10.4.4.4"}, "203.0.113.9"},
		{"a port in an entry", "10.1.2.3:443", []string{"[2001:db8::5]:1234"}, "2001:db8::5"},
		{"garbage from the proxy: the proxy", "10.1.2.3:443", []string{"203.0.113.9, junk"}, "10.1.2.3"},
		{"no header: the proxy", "10.1.2.3:443", nil, "10.1.2.3"},
		{"all trusted: the leftmost", "10.1.2.3:443", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"IPv4 in IPv6", "[::ffff:172.16.0.1]:443", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"IPv6 peer", "[2001:db8::1]:443", []string{"203.0.113.9"}, "2001:db8::1"},
	}
	for _, c := range cases {
		if got := resolveClientAddress(c.remote, c.xff, trusted); got != c.want {
			t.Errorf("%s: %s %q = %s, want %s", c.name, c.remote, c.xff, got, c.want)
		}
	}
	if got := resolveClientAddress("198.51.100.1:5000", []string{"203.0.113.9"}, nil); got != "198.51.100.1" {
		t.Errorf("no trusted proxies: %s", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.org", "10.0.0.1/8/2"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
	if p, err := ParseTrustedProxies(" "); err != nil || len(p) != 0 {
		t.Errorf("empty list = %v, %v", p, err)
	}
}
