package sidecar_test

import (
	"path/filepath"
	"testing"
)

func TestProbeH2(t *testing.T) {
	cfg := noFilter()
	cfg.GRPC.EmitUndecoded = true
	for _, f := range []string{"grpc/Unary.pcapng", "grpc/Bidi_Streaming.pcapng", "grpc/Client_Streaming.pcapng", "grpc/Server_Streaming.pcapng", "grpc/http2-errorcode__input.pcap", "http2-h2c-prior/http2-bugfixes__input.pcap", "http2-h2c-prior/http2-continuation__input.pcap", "http2-h2c-prior/http2-keywords__input.pcap", "http2-h2c-upgrade/http2-range.pcap", "http2-h2c-upgrade/http2_deflate.pcap"} {
		recs := replay(t, cfg, filepath.Join(corpusDir, f))
		t.Logf("== %s: %d records", f, len(recs))
		for _, r := range recs {
			s := string(r)
			if len(s) > 600 {
				s = s[:600]
			}
			t.Logf("%s", s)
		}
	}
}
