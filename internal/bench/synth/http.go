package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/payload"
)

// HTTPTraffic is the HTTP/1.1 exchange mix of one capture.
type HTTPTraffic struct {
	// Pairs is the number of exchanges.
	Pairs int `json:"pairs"`
	// Clients is the number of concurrent keep-alive clients.
	Clients int `json:"clients"`
	// ConnsPerClient is how many connections each client goes through
	// in turn (it drops its idle connection between thirds of its work,
	// as load generators that reconnect do).
	ConnsPerClient int `json:"conns_per_client"`
	// OpenConns, when set, replaces the clients: that many connections
	// are opened and held open together, then each makes
	// Pairs/OpenConns exchanges, interleaved. Pairs must be a multiple.
	OpenConns int `json:"open_conns,omitempty"`
	// BodySize is fixed body size; 0 draws mixedSize.
	BodySize int `json:"body_size"`
	// PostPerMille is the share of POSTs (with a JSON body) in 1/1000.
	PostPerMille int `json:"post_per_mille"`
	// ChunkedPerMille is the share of responses without Content-Length.
	ChunkedPerMille int `json:"chunked_per_mille"`
}

// exchangeOf is request i's shape, drawn from i alone so that a capture
// does not depend on the clients' scheduling.
func (t HTTPTraffic) exchangeOf(i int) (post, chunked bool, reqSize, respSize int) {
	rng := rand.New(rand.NewPCG(uint64(i), 0x70647461))
	post = rng.IntN(1000) < t.PostPerMille
	chunked = rng.IntN(1000) < t.ChunkedPerMille
	if t.BodySize > 0 {
		return post, chunked, t.BodySize, t.BodySize
	}
	return post, chunked, mixedSize(rng), mixedSize(rng)
}

// request builds exchange i's request against addr.
func (t HTTPTraffic) request(ctx context.Context, addr string, i int) (*http.Request, error) {
	post, chunked, reqSize, respSize := t.exchangeOf(i)
	q := "?size=" + strconv.Itoa(respSize)
	if chunked {
		q += "&chunked=1"
	}
	if !post {
		return http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/items/"+strconv.Itoa(i)+q, nil)
	}
	body := payload.Order(nil, reqSize, uint64(i))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/orders"+q, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// run makes the exchanges against a server at addr, dialing through dial.
func (t HTTPTraffic) run(ctx context.Context, addr string, dial dialFunc) error {
	if t.OpenConns > 0 {
		return t.runOpen(ctx, addr, dial)
	}
	var next atomic.Int64
	perConn := max(1, t.Pairs/(t.Clients*t.ConnsPerClient))
	return load.Parallel(ctx, t.Clients, func(ctx context.Context, _ int) error {
		tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1, DisableCompression: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		for n := 1; ; n++ {
			i := int(next.Add(1))
			if i > t.Pairs {
				return nil
			}
			if err := exchange(ctx, c, t, addr, i); err != nil {
				return err
			}
			if n%perConn == 0 {
				tr.CloseIdleConnections()
			}
		}
	})
}

// runOpen opens OpenConns connections and keeps them all open to the end:
// each makes Pairs/OpenConns exchanges, connection by connection in rounds,
// by 64 workers that each own every 64th connection.
func (t HTTPTraffic) runOpen(ctx context.Context, addr string, dial dialFunc) error {
	const workers = 64
	rounds := t.Pairs / t.OpenConns
	return load.Parallel(ctx, workers, func(ctx context.Context, w int) error {
		var clients []*http.Client
		for c := w; c < t.OpenConns; c += workers {
			tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			clients = append(clients, &http.Client{Transport: tr})
		}
		for round := range rounds {
			for k, c := range clients {
				i := round*t.OpenConns + w + k*workers + 1
				if err := exchange(ctx, c, t, addr, i); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// exchange makes exchange i and checks its response completely.
func exchange(ctx context.Context, c *http.Client, t HTTPTraffic, addr string, i int) error {
	req, err := t.request(ctx, addr, i)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("exchange %d: %w", i, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("exchange %d: reading the body: %w", i, err)
	}
	_, _, _, want := t.exchangeOf(i)
	if resp.StatusCode != http.StatusOK || n != int64(max(want, payload.MinSize)) || resp.Header.Get(load.SeqHeader) == "" {
		return fmt.Errorf("exchange %d: status %d, %d body bytes, seq %q", i, resp.StatusCode, n, resp.Header.Get(load.SeqHeader))
	}
	return nil
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// recordHTTP runs the traffic against the app server, in a process of its
// own so that each end of 10,000 connections has its own file limit, and
// writes what the clients saw as a capture to out.
func recordHTTP(ctx context.Context, t HTTPTraffic, out io.Writer, seed uint64) (Stats, error) {
	srv, addr, err := load.StartServer(ctx, nil, "127.0.0.1:0")
	if err != nil {
		return Stats{}, err
	}
	stats, err := recordTraffic(out, seed, func(rec *recorder) error {
		return t.run(ctx, addr, rec.dial)
	})
	return stats, errors.Join(err, load.StopServer(srv))
}

// recordTraffic runs traffic with a recorder and lays its events into a
// capture written to out.
func recordTraffic(out io.Writer, seed uint64, traffic func(*recorder) error) (Stats, error) {
	sw, err := newSegmentWriter(out, loopbackMSS, retransmitRate, seed)
	if err != nil {
		return Stats{}, err
	}
	events := make(chan event, 4096)
	written := make(chan error, 1)
	go func() { written <- sw.run(events) }()
	err = traffic(newRecorder(events))
	close(events)
	if werr := <-written; werr != nil {
		return Stats{}, werr
	}
	if err != nil {
		return Stats{}, err
	}
	return sw.stats, nil
}

// retransmitRate is the share of data segments spuriously retransmitted:
// about one packet in a thousand, as in the anchor capture.
const retransmitRate = 0.002
