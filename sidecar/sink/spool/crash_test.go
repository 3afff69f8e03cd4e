package spool

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "PODTAP_SPOOL_CRASH_DIR"

// TestCrashChild is the process killed by TestKillNineRecovers; it does
// nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return // only as the helper process of TestKillNineRecovers
	}
	opts := testOptions(dir)
	opts.MaxBytes = 1 << 30
	s, _, err := Open(opts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if _, err := s.Append(Entry{Time: time.Now(), Payload: payload(i)}); err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			os.Exit(1)
		}
		if i%100 == 99 {
			fmt.Fprintln(out, "appended", i+1)
			out.Flush()
		}
	}
}

func TestKillNineRecovers(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	acked := 0
	for acked < 5000 && sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "appended "); ok {
			acked, _ = strconv.Atoi(n)
		} else if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
	}
	if acked < 5000 {
		t.Fatalf("child stopped after %d records: %v", acked, sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s, rec := mustOpen(t, testOptions(dir))
	defer s.Close()
	if len(rec.Skipped) != 0 || rec.Torn > 1 {
		t.Fatalf("recovery after kill -9: %+v", rec)
	}
	got := drain(t, s)
	// Every record the child finished appending is back, in order, and
	// nothing else: at most a torn one was cut.
	if len(got) < acked {
		t.Fatalf("recovered %d records, the child had appended %d", len(got), acked)
	}
	wantSeq(t, got, 0, len(got))
	t.Logf("child appended at least %d records; recovered %d, torn %d", acked, len(got), rec.Torn)
}

func FuzzScanSegment(f *testing.F) {
	seg := []byte(magic)
	for i := range 3 {
		seg = appendRecord(seg, int64(i), payload(i))
	}
	f.Add(seg, true)
	f.Add(seg[:len(seg)-5], true)
	f.Add(seg[:len(seg)-5], false)
	f.Add(append(bytes.Clone(seg), make([]byte, 40)...), true)
	f.Add([]byte("podtap"), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, newest bool) {
		sc := scanSegment(bytes.NewReader(data), int64(len(data)), 4096, newest, -1)
		if sc.end > int64(len(data)) {
			t.Fatalf("end %d past the %d bytes", sc.end, len(data))
		}
		if sc.torn && !newest {
			t.Fatal("a sealed segment reported torn")
		}
		if sc.err == nil && !sc.torn && sc.end != int64(len(data)) && len(data) >= int(headerSize) {
			t.Fatalf("clean scan ended at %d of %d", sc.end, len(data))
		}
		// Whatever the scan accepted must read back record by record.
		if sc.err == nil && sc.records > 0 {
			br := bufio.NewReader(bytes.NewReader(data[headerSize:sc.end]))
			for range sc.records {
				if _, _, err := readRecord(br, 4096); err != nil {
					t.Fatalf("accepted record does not read back: %v", err)
				}
			}
		}
	})
}
