package load

import (
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	const ok = `Running 5s test @ http://10.214.0.2:8080/api/items/1?size=1024
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms  302.11us   9.87ms   81.02%
    Req/Sec    53.12k     2.01k   56.90k    78.00%
  264311 requests in 5.00s, 321.03MB read
Requests/sec:  52860.13
Transfer/sec:     64.20MB
`
	r, err := parseWrk([]byte(ok))
	if err != nil || r.Requests != 264311 || r.Elapsed != 5*time.Second {
		t.Fatalf("%+v, %v", r, err)
	}
	for name, tc := range map[string]struct{ out, want string }{
		"socket errors": {strings.Replace(ok, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 2\nRequests/sec", 1), "5 failed requests"},
		"non-2xx":       {strings.Replace(ok, "Requests/sec", "  Non-2xx or 3xx responses: 7\nRequests/sec", 1), "7 failed requests"},
		"no summary":    {"unable to connect to 10.214.0.2:8080 Connection refused\n", "no summary"},
		"none":          {"  0 requests in 1.00s, 0.00B read\n", "no requests completed"},
	} {
		if _, err := parseWrk([]byte(tc.out)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
