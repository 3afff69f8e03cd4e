package http1

import "testing"

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want Verdict
	}{
		{"", NeedMore},
		{"\r\n", NeedMore},
		{"G", NeedMore},
		{"GET", NeedMore},
		{"GET ", Request},
		{"GET /index.html HTTP/1.1\r\n", Request},
		{"\r\nPOST /x HTTP/1.0\r\n", Request},
		{"OPTIONS\n", Request},
		{"CCM_POST / HTTP/1.1\r\n", Request},
		{"CCM_POST /", NeedMore},
		{"CCM_POST / HTTP/2.0\r\n", NotHTTP},
		{"GET/ HTTP/1.1\r\n", NotHTTP},
		{"ÃÂÃ / HTTP/1.1\r\n", NotHTTP},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NotHTTP},
		{"H", NeedMore},
		{"HE", NeedMore},
		{"HEAD / HTTP/1.1\r\n", Request},
		{"HTTP/1.1 200 OK\r\n", Response},
		{"HTTP/1.0 404\r\n", Response},
		{"HTTP/1.1 20", NeedMore},
		{"HTTP/1.1 2x0", NotHTTP},
		{"HTTP/2 200", NotHTTP},
		{"HTTP/1.", NeedMore},
		{"\x16\x03\x01\x02\x00", NotHTTP},
		{"SSH-2.0-OpenSSH_9.6\r\n", NotHTTP},
		{"\x00\x00\x12\x04\x00\x00\x00\x00\x00", NotHTTP},
		{"AVERYLONGTOKENTHATISNOTAMETHODATALL ", NotHTTP},
		{"FOO bar\x01", NotHTTP},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
