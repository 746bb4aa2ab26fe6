package server

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted bool
		want    string
	}{
		{"direct peer", "203.0.113.9:5555", nil, true, "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:5555", []string{"1.2.3.4"}, true, "203.0.113.9"},
		{"no trusted list ignores the header", "10.1.2.3:5555", []string{"1.2.3.4"}, false, "10.1.2.3"},
		{"trusted peer forwards the client", "10.1.2.3:5555", []string{"198.51.100.20"}, true, "198.51.100.20"},
		{"rightmost untrusted hop wins over a spoofed left entry", "10.1.2.3:5555", []string{"6.6.6.6, 198.51.100.20"}, true, "198.51.100.20"},
		{"chained trusted proxies are skipped", "10.1.2.3:5555", []string{"198.51.100.20, 192.168.1.7", "10.9.9.9"}, true, "198.51.100.20"},
		{"all hops trusted gives the leftmost", "10.1.2.3:5555", []string{"10.4.4.4"}, true, "10.4.4.4"},
		{"garbage from a trusted proxy stops the walk", "10.1.2.3:5555", []string{"not-an-ip"}, true, "10.1.2.3"},
		{"trusted peer without header", "192.168.1.7:80", nil, true, "192.168.1.7"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, true, "2001:db8::1"},
		{"trusted ipv6 proxy", "[fd00::5]:443", []string{"2001:db8::2"}, true, "2001:db8::2"},
		{"ipv4-mapped peer is unmapped", "[::ffff:10.1.2.3]:1", []string{"198.51.100.1"}, true, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			trusted := proxies
			if !tt.trusted {
				trusted = nil
			}
			if got := clientIP(r, trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxiesRejects(t *testing.T) {
	for _, in := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,nope"} {
		if _, err := ParseTrustedProxies(in); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", in)
		}
	}
	got, err := ParseTrustedProxies(" , ")
	if err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, token, refusal string
	}{
		{"", "", msgMissingToken},
		{"Bearer", "", msgMissingToken},
		{"Bearer   ", "", msgMissingToken},
		{"Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz", msgNotBearer},
		{"Bearer cst_abc", "cst_abc", ""},
		{"bearer cst_abc", "cst_abc", ""},
		{"  BEARER   cst_abc  ", "cst_abc", ""},
	}
	for _, tt := range tests {
		token, refusal := bearerToken(tt.header)
		if token != tt.token || refusal != tt.refusal {
			t.Errorf("bearerToken(%q) = %q, %q; want %q, %q", tt.header, token, refusal, tt.token, tt.refusal)
		}
	}
}

func TestOperationName(t *testing.T) {
	tests := map[string]string{
		`{"query":"{ viewer { tenant { slug } } }","operationName":"Viewer"}`: "Viewer",
		`{"query":"query X { a }"}`: "",
		`{"variables":{"operationName":"Spoof"},"query":"query X { a }","operationName":"Real"}`: "Real",
		`not json`: "",
	}
	for body, want := range tests {
		if got := operationName([]byte(body)); got != want {
			t.Errorf("operationName(%s) = %q, want %q", body, got, want)
		}
	}
}
