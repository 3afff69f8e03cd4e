package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/sidecar/flow"
)

// Idle measures the sidecar's memory and CPU with many idle keep-alive
// connections open (each has carried one exchange, so the sidecar tracks
// it) while other connections carry 1,000 pairs a second, at growing
// connection counts, each with a fresh sidecar, so that the cost curve
// shows; then the memory per idle connection, the slope between each
// count and the next.
func Idle(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	counts, d := []int{1000, 10000, host.MaxConns}, 10*time.Second
	if o.Quick {
		counts, d = []int{250, 500}, 2*time.Second
	}
	most := counts[len(counts)-1]
	if err := host.RaiseFileLimit(); err != nil {
		return err
	}
	if err := host.CheckConntrack(2 * most); err != nil {
		return err
	}
	perProc, err := host.ConnsPerProcess()
	if err != nil {
		return err
	}
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *host.CPULimit) error {
		clients, err := addClientAddrs(env, most)
		if err != nil {
			return err
		}
		servers, err := moreServers(ctx, env, most, perProc)
		defer stopServers(servers)
		if err != nil {
			return err
		}
		rss, tracked := make([]int64, len(counts)), make([]float64, len(counts))
		for i, n := range counts {
			if rss[i], tracked[i], err = idleStep(ctx, env, limit, clients, n, perProc, d, rep); err != nil {
				return err
			}
		}
		for i := 1; i < len(counts); i++ {
			r := report.NewRow(fmt.Sprintf("idle: memory per idle connection, %d to %d", counts[i-1], counts[i])).
				Set("bytes_per_conn", float64(rss[i]-rss[i-1])/max(tracked[i]-tracked[i-1], 1))
			r.Note = "the growth of RSS over the growth of the connections tracked, between those two rows above"
			rep.Rows = append(rep.Rows, r)
		}
		return nil
	})
}

// idleSlack is room for connections besides the idle ones: the load
// generator's 16, with room to spare.
const idleSlack = 1024

// idleTimeout is the sidecar's flow.idle_timeout in this scenario: the
// first connections must outlive the opening of the last (100 s for
// 100,000) and the load after it, or the sidecar lets them go as idle
// before it is measured with them.
const idleTimeout = "10m"

// idleSidecarEnv sets the sidecar's idle timeout, and sizes it for conns
// idle connections as a user would where the defaults would shed some:
// flow.max_connections, and the memory limit (as GOMEMLIMIT, 90% of the
// container's limit, as the webhook sets it), which lowers the cap to what
// fits it (about 29,000 under the default 256Mi). It returns the settings
// and a note on them.
func idleSidecarEnv(conns int) ([]string, string) {
	env := []string{"PODTAP_FLOW_IDLE_TIMEOUT=" + idleTimeout}
	note := "; flow.idle_timeout " + idleTimeout
	def := config.DefaultSidecar()
	want := conns + idleSlack
	goLimit := flow.MemoryLimitFor(def.Flow, want)
	if want <= def.Flow.MaxConnections && goLimit <= sidecarGoMemLimit {
		return env, note
	}
	maxConns := max(def.Flow.MaxConnections, want)
	goLimit = max(goLimit, sidecarGoMemLimit)
	env = append(env, "PODTAP_FLOW_MAX_CONNECTIONS="+strconv.Itoa(maxConns), "GOMEMLIMIT="+strconv.FormatInt(goLimit, 10))
	return env, note + fmt.Sprintf("; sized for them: flow.max_connections %d, GOMEMLIMIT %d MiB (a %d MiB memory limit)",
		maxConns, goLimit>>20, (goLimit*10/9+1<<20-1)>>20)
}

// idleStep holds conns idle connections with a fresh sidecar while 1,000
// pairs a second go by, adds its row and returns the sidecar's RSS and
// the connections it tracked.
func idleStep(ctx context.Context, env *liveEnv, limit *host.CPULimit, clients []net.IP, conns, perProc int, d time.Duration, rep *report.Report) (int64, float64, error) {
	extra, sized := idleSidecarEnv(conns)
	sc, err := startSidecarWith(ctx, env, limit, sidecarMetricsPort, extra...)
	if err != nil {
		return 0, 0, err
	}
	defer sc.stop()
	idle, err := load.Hold(ctx, env.addr(), clients, conns, perProc, idleOpenRate)
	if err != nil {
		return 0, 0, err
	}
	defer idle.Close()
	m0, err := sc.drained(ctx, float64(conns))
	if err != nil {
		return 0, 0, err
	}
	gen := load.NewGenerator(env.addr(), 16)
	defer gen.Close()
	cpu0, _ := host.ProcessCPU(sc.pid())
	t0 := time.Now()
	load := gen.Run(ctx, 1000, d, liveBodySize)
	m1, err := sc.drained(ctx, m0.Pairs+float64(load.OK))
	if err != nil {
		return 0, 0, err
	}
	cpu1, _ := host.ProcessCPU(sc.pid())
	rss, peak, err := host.ProcessRSS(sc.pid())
	if err != nil {
		return 0, 0, err
	}
	pairs := m1.Pairs - m0.Pairs
	r := report.NewRow(fmt.Sprintf("idle: %d idle keep-alive conns + 1,000 pairs/s", conns)).
		Set("pairs_per_s", pairs/load.Elapsed.Seconds()).
		Set("pairs_emitted", pairs).
		Set("pairs_expected", float64(load.OK)).
		Set("coverage_pct", 100*pairs/float64(max(load.OK, 1))).
		// The sidecar started with the step: its drops are those of the
		// whole of it, the opening of the idle connections too.
		Set("kernel_drops", m1.KernelDrops).
		Set("cpu_pct", 100*(cpu1-cpu0)/time.Since(t0).Seconds()).
		Set("rss_mib", float64(rss)/(1<<20))
	r.Note = fmt.Sprintf("RSS now; peak %.1f MiB; %.0f connections tracked, %.0f shed; %.0f packets dropped at the sidecar's queue (flow.queue_bytes)%s; %s%s",
		float64(peak)/(1<<20), m1.Conns, m1.Shed, m1.QueueDrops, droppedNote(m1, sidecarMetrics{}), limit.Kind(), sized)
	rep.Rows = append(rep.Rows, r)
	return rss, m1.Conns, nil
}

// idleOpenRate is how many idle connections are opened a second: the
// scenario is about holding them, and a pod's connections pile up over
// time rather than in one burst (which would measure the burst instead).
// At 2,000 a second the sidecar, at its 0.25 CPU on a shared machine,
// dropped packets on the way to 100,000, and some connections went
// untracked.
const idleOpenRate = 1000

// clientAddrBase is the last byte of the first of the idle connections'
// client addresses, past the host's and the pod's in their /24.
const clientAddrBase = 10

// addClientAddrs gives the host side of the pod's veth enough addresses
// for conns connections to the one server address and port: each client
// address has only the ephemeral port range (net.ipv4.ip_local_port_range)
// to open them from. Each takes at most half of it, as other sockets use
// ports too. The addresses go with the veth.
func addClientAddrs(env *liveEnv, conns int) ([]net.IP, error) {
	lo, hi, err := host.EphemeralPorts()
	if err != nil {
		return nil, err
	}
	per := (hi - lo + 1) / 2
	n := (conns + per - 1) / per
	if clientAddrBase+n > 254 {
		return nil, fmt.Errorf("%d connections need %d client addresses at %d ports each, more than the pod's /24 holds (net.ipv4.ip_local_port_range %d-%d)", conns, n, per, lo, hi)
	}
	base := net.ParseIP(env.hostIP).To4()
	ips := make([]net.IP, n)
	for i := range ips {
		ips[i] = net.IPv4(base[0], base[1], base[2], byte(clientAddrBase+i))
		if err := netns.RunIP("addr", "add", ips[i].String()+"/24", "dev", env.veth); err != nil {
			return nil, fmt.Errorf("client address for the idle connections: %w", err)
		}
	}
	return ips, nil
}

// moreServers starts the app servers, beside env's, that conns connections
// need when each process holds at most perProc of them: they share the
// address, and the kernel spreads connections over them at random, so
// each is given a quarter more than its share.
func moreServers(ctx context.Context, env *liveEnv, conns, perProc int) ([]*exec.Cmd, error) {
	n := (conns*5/4 + perProc - 1) / perProc
	var servers []*exec.Cmd
	for range n - 1 {
		cmd, _, err := load.StartServer(ctx, &env.pod.NS, env.addr())
		if err != nil {
			return servers, fmt.Errorf("another app server for %d idle connections: %w", conns, err)
		}
		servers = append(servers, cmd)
	}
	return servers, nil
}

func stopServers(servers []*exec.Cmd) error {
	var errs []error
	for _, s := range servers {
		errs = append(errs, load.StopServer(s))
	}
	return errors.Join(errs...)
}
