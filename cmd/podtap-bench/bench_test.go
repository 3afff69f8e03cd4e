package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/scenario"
	"github.com/podtap/podtap/internal/testenv"
)

// TestMain lets the test binary serve as the bench's own child processes
// (replays, the app server and the holders of idle connections), which the bench starts by re-running its
// executable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == scenario.ReplayChildCmd || os.Args[1] == load.ServeCmd || os.Args[1] == load.HoldCmd) {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestQuickBench runs `podtap-bench --quick` so that the bench cannot rot:
// it must complete, and every replay must emit exactly the pairs of its
// capture. Speed is not asserted. The live scenarios need root; without it
// only the replays run.
func TestQuickBench(t *testing.T) {
	scenarios := "replay,live,idle,overhead,receiver,tunnel"
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the live bench scenarios need root (network namespaces, packet capture, cgroups), and CI runs as root")
		}
		t.Log("NOT RUNNING the live, idle and overhead scenarios: they need root")
		scenarios = "replay"
	}
	if _, err := exec.LookPath("wrk"); err != nil && scenarios != "replay" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the overhead scenario needs wrk, which .ci/run installs")
		}
		t.Log("NOT RUNNING the overhead scenario: it needs wrk (bash hack/deps.sh installs it)")
		scenarios = "replay,live,idle,receiver,tunnel"
	}
	if scenarios != "replay" {
		if _, err := exec.LookPath("nginx"); err == nil || fileExists("/usr/sbin/nginx") {
			scenarios += ",live-large"
			if strings.Contains(scenarios, "overhead") {
				scenarios += ",tls"
			}
		} else if os.Getenv("CI") == "true" {
			t.Fatal("the live-large and tls scenarios need nginx, which .ci/run installs")
		} else {
			t.Log("NOT RUNNING the live-large and tls scenarios: they need nginx (bash hack/deps.sh installs it)")
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	if err := bench([]string{"--quick", "--scenarios", scenarios, "--cache", filepath.Join(dir, "cache"), "--json", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	replays, clis := 0, 0
	live := map[string]bool{}
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Scenario, "live nginx") && r.Figures["pairs_expected"] == 0 {
			t.Errorf("%s: nginx logged no request", r.Scenario)
		}
		kind, _, _ := strings.Cut(r.Scenario, " ")
		live[kind] = true
		checkTunnelled(t, kind, r)
		checkTLS(t, kind, r)
		if kind == "podtap-sidecar" {
			clis++
		}
		if kind == "tcpdump" && r.Figures["cpu_s"] <= 0 {
			t.Errorf("%s: no CPU time measured", r.Scenario)
		}
		if kind != "replay" && kind != "podtap-sidecar" {
			continue
		}
		if kind == "replay" {
			replays++
		}
		got, want := r.Figures["pairs_emitted"], r.Figures["pairs_expected"]
		if want == 0 || got != want {
			t.Errorf("%s: %v pairs emitted, the capture holds %v", r.Scenario, got, want)
		}
		if strings.Contains(r.Note, "duplicates") || strings.Contains(r.Note, "unknown") {
			t.Errorf("%s: %s", r.Scenario, r.Note)
		}
	}
	// Four captures, each at GOMAXPROCS 1 and 2, and the mixed one to a
	// file.
	if replays != 9 {
		t.Errorf("%d replay rows, want 9", replays)
	}
	// The CLI replays the mixed capture beside the read floor, unless
	// tcpdump is missing off CI.
	if _, err := exec.LookPath("tcpdump"); (err == nil || testenv.OnCI()) && (clis != 1 || !live["tcpdump"]) {
		t.Errorf("%d CLI rows and tcpdump's row %v, want one of each", clis, live["tcpdump"])
	}
	if scenarios != "replay" {
		for _, kind := range []string{"live", "idle:", "app", "receiver", "tunnel:", "tls:"} {
			if needs, ok := map[string]string{"app": "overhead", "tls:": "tls"}[kind]; ok && !strings.Contains(scenarios, needs) {
				continue
			}
			if !live[kind] {
				t.Errorf("no %q row in the report", kind)
			}
		}
	}
}

// checkTunnelled checks that the receiver and tunnel rows measured
// something: pairs made from the tunnelled packets, CPU spent on them, and
// for the tunnel-mode row its ratio to parsing in the pod.
func checkTunnelled(t *testing.T, kind string, r *report.Row) {
	t.Helper()
	switch kind {
	case "receiver":
		if r.Figures["pairs_emitted"] == 0 || r.Figures["pairs_per_cpu_s"] <= 0 {
			t.Errorf("%s: %v pairs, %v pairs/CPU-s", r.Scenario, r.Figures["pairs_emitted"], r.Figures["pairs_per_cpu_s"])
		}
	case "tunnel:":
		if r.Figures["pairs_emitted"] == 0 || r.Figures["cpu_pct_per_kpairs"] <= 0 {
			t.Errorf("%s: %v pairs, %v CPU %% per 1,000 pairs/s", r.Scenario, r.Figures["pairs_emitted"], r.Figures["cpu_pct_per_kpairs"])
		}
		if strings.Contains(r.Scenario, "tunnel-mode") && r.Figures["vs_parse_cpu"] <= 0 {
			t.Errorf("%s: no ratio to parse-in-pod", r.Scenario)
		}
	}
}

// checkTLS checks that the tls rows measured something: TLS events read
// with CPU spent on them and every pair made, and the app's CPU per request
// with TLS capture on as a ratio to off.
func checkTLS(t *testing.T, kind string, r *report.Row) {
	t.Helper()
	if kind != "tls:" {
		return
	}
	if r.Figures["app_cpu_us_per_req"] <= 0 && r.Figures["tls_events_per_cpu_s"] <= 0 {
		t.Errorf("%s: neither TLS events per CPU-second nor the app's CPU per request: %v", r.Scenario, r.Figures)
	}
	if strings.Contains(r.Scenario, "capture off") {
		return
	}
	got, want := r.Figures["pairs_emitted"], r.Figures["pairs_expected"]
	if !strings.Contains(r.Scenario, "capture on") {
		// wrk's row counts the requests in nginx's log, which may hold one
		// whose connection wrk cut before the response was written.
		if want == 0 || got < 0.99*want || got > want {
			t.Errorf("%s: %v pairs of %v requests", r.Scenario, got, want)
		}
		return
	}
	if want == 0 || got != want {
		t.Errorf("%s: %v pairs of the %v responses the generator read", r.Scenario, got, want)
	}
	if r.Figures["vs_tls_off_cpu"] <= 0 {
		t.Errorf("%s: no ratio to TLS capture off", r.Scenario)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
