// Package report is the bench's table: one row of figures per scenario,
// printed aligned with numbered notes, and kept as JSON.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podtap/podtap/internal/bench/synth"
)

// Column is one figure of the table, with its unit in the header.
type Column struct {
	Key    string `json:"key"`
	Header string `json:"header"`
	// Digits after the point.
	Digits int `json:"-"`
}

// Columns are the table's figures, in order. A row fills those that apply
// to its scenario.
var Columns = []Column{
	{"pairs_per_s", "pairs/s", 0},
	{"mb_per_s", "MB/s", 1},
	{"wall_s", "wall s", 2},
	{"cpu_s", "CPU s", 2},
	{"pairs_per_cpu_s", "pairs/CPU-s", 0},
	{"allocs_per_packet", "allocs/packet", 2},
	{"allocs_per_pair", "allocs/pair", 1},
	{"pairs_emitted", "pairs emitted", 0},
	{"pairs_expected", "pairs in capture/sent", 0},
	{"coverage_pct", "coverage %", 3},
	{"kernel_drops", "kernel drops", 0},
	{"cpu_pct", "sidecar CPU %", 1},
	{"receiver_cpu_pct", "receiver CPU %", 1},
	{"cpu_pct_per_kpairs", "CPU % per 1,000 pairs/s", 2},
	{"vs_parse_cpu", "CPU × parse-in-pod", 2},
	{"rss_mib", "RSS MiB", 1},
	{"bytes_per_conn", "bytes/idle conn", 0},
	{"req_per_s", "app req/s", 0},
	{"app_ratio_pct", "app req/s vs without %", 1},
	{"req_per_app_cpu_s", "app req/CPU-s", 0},
	{"app_cpu_ratio_pct", "app req/CPU-s vs without %", 1},
	{"vs_goreplay", "× GoReplay pairs/s", 2},
	{"cpu_s_without", "CPU s without classification", 2},
	{"cost_pct", "classification cost %", 1},
	{"vs_goreplay_cpu", "× GoReplay pairs/CPU-s", 2},
	{"vs_floor_cpu", "CPU-s × read floor", 2},
	{"vs_procs1_pairs_per_s", "pairs/s × GOMAXPROCS=1", 2},
	{"vs_procs1_pairs_per_cpu_s", "pairs/CPU-s × GOMAXPROCS=1", 2},
	{"tls_events_per_s", "TLS events/s", 0},
	{"tls_events_per_cpu_s", "TLS events/CPU-s", 0},
	{"app_cpu_us_per_req", "app CPU µs/req", 2},
	{"vs_tls_off_cpu", "app CPU × TLS capture off", 3},
}

// Row is one scenario's figures.
type Row struct {
	Scenario string             `json:"scenario"`
	Figures  map[string]float64 `json:"figures"`
	Note     string             `json:"note,omitempty"`
}

// NewRow starts a row for scenario.
func NewRow(scenario string) *Row { return &Row{Scenario: scenario, Figures: map[string]float64{}} }

// Set records one figure, by its column key.
func (r *Row) Set(key string, v float64) *Row {
	r.Figures[key] = v
	return r
}

// Report is one run's table, as printed and as JSON.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Quick   bool      `json:"quick"`
	Columns []Column  `json:"columns"`
	Rows    []*Row    `json:"rows"`
	// Captures are the generated captures the replays used.
	Captures []synth.Capture `json:"captures"`
}

// Machine is what the figures were measured on.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
}

// ThisMachine describes the machine running the bench.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// Print writes the table (only the columns some row fills), then the rows'
// notes, numbered.
func (rep *Report) Print(w io.Writer) error {
	var used []Column
	for _, c := range Columns {
		for _, r := range rep.Rows {
			if _, ok := r.Figures[c.Key]; ok {
				used = append(used, c)
				break
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "scenario\t")
	for _, c := range used {
		fmt.Fprint(tw, c.Header, "\t")
	}
	fmt.Fprintln(tw, "note\t")
	var notes []string
	for _, r := range rep.Rows {
		fmt.Fprint(tw, r.Scenario, "\t")
		for _, c := range used {
			v, ok := r.Figures[c.Key]
			switch {
			case !ok:
				fmt.Fprint(tw, "–\t")
			default:
				fmt.Fprint(tw, formatFigure(v, c.Digits), "\t")
			}
		}
		ref := ""
		if r.Note != "" {
			notes = append(notes, r.Note)
			ref = fmt.Sprintf("[%d]", len(notes))
		}
		fmt.Fprintln(tw, ref, "\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, n := range notes {
		if _, err := fmt.Fprintf(w, "[%d] %s\n", i+1, n); err != nil {
			return err
		}
	}
	return nil
}

// formatFigure prints v with thousands separators.
func formatFigure(v float64, digits int) string {
	s := strconv.FormatFloat(v, 'f', digits, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// WriteJSON keeps the report at path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
