package tlscapture

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/tlsbpf"
)

// Library ids the BPF programs put in events, as tls.c numbers them.
var libraryOfID = map[uint8]string{1: config.TLSLibraryOpenSSL, 2: config.TLSLibraryBoringSSL, 3: config.TLSLibraryGo}

// probes holds the loaded programs and the links attached so far.
type probes struct {
	objs  tlsbpf.TLSObjects
	links []link.Link
	ring  *ringbuf.Reader
	// multi is set when the kernel has uprobe_multi links (6.6 on): they
	// attach with CAP_BPF and CAP_PERFMON, where a perf uprobe event was
	// refused without CAP_SYS_ADMIN on the kernel measured (6.18).
	multi bool
}

// loadProbes loads the programs for the PID namespace of proc's sidecar
// (events from other namespaces are dropped in the kernel) and attaches the
// syscall tracepoint that maps SSL objects to fds.
func loadProbes(ringBytes uint32) (*probes, error) {
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, and the ring
	// buffer alone is capture.tls_ring_bytes (8 MiB by default); raising it
	// needs CAP_SYS_RESOURCE. Later kernels charge the memory cgroup, and
	// this does nothing.
	memlockErr := rlimit.RemoveMemlock()
	spec, err := tlsbpf.LoadTLS()
	if err != nil {
		return nil, err
	}
	if ringBytes > 0 {
		spec.Maps["events"].MaxEntries = ringBytes
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/pid", &st); err != nil {
		return nil, fmt.Errorf("own PID namespace: %w", err)
	}
	if err := spec.Variables["pidns_dev"].Set(uint64(st.Dev)); err != nil {
		return nil, err
	}
	if err := spec.Variables["pidns_ino"].Set(st.Ino); err != nil {
		return nil, err
	}
	p := &probes{multi: features.HaveBPFLinkUprobeMulti() == nil}
	if p.multi {
		for _, prog := range spec.Programs {
			if prog.Type == ebpf.Kprobe {
				prog.AttachType = ebpf.AttachTraceUprobeMulti
			}
		}
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		if memlockErr != nil {
			return nil, fmt.Errorf("loading BPF programs with a %d-byte ring buffer (capture.tls_ring_bytes; needs CAP_BPF and CAP_PERFMON; RLIMIT_MEMLOCK not raised: %v): %w", spec.Maps["events"].MaxEntries, memlockErr, err)
		}
		return nil, fmt.Errorf("loading BPF programs with a %d-byte ring buffer (capture.tls_ring_bytes; needs CAP_BPF and CAP_PERFMON): %w", spec.Maps["events"].MaxEntries, err)
	}
	tp, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p.objs.SysEnter})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("attaching the sys_enter tracepoint: %w", err)
	}
	p.links = append(p.links, tp)
	if p.ring, err = ringbuf.NewReader(p.objs.Events); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// attach puts the uprobes on one object. SSL_read_ex/SSL_write_ex exist
// from OpenSSL 1.1.1 on and are skipped where absent; SSL_read and
// SSL_write are required.
func (p *probes) attach(o object) error {
	ex, err := link.OpenExecutable(o.path)
	if err != nil {
		return err
	}
	if o.library == config.TLSLibraryGo {
		return p.attachGo(ex, o.path)
	}
	enter := map[string]*ebpf.Program{}
	switch o.library {
	case config.TLSLibraryBoringSSL:
		enter["SSL_write"], enter["SSL_read"] = p.objs.BoringsslWriteEnter, p.objs.BoringsslReadEnter
		enter["SSL_write_ex"], enter["SSL_read_ex"] = p.objs.BoringsslWriteExEnter, p.objs.BoringsslReadExEnter
	default:
		enter["SSL_write"], enter["SSL_read"] = p.objs.OpensslWriteEnter, p.objs.OpensslReadEnter
		enter["SSL_write_ex"], enter["SSL_read_ex"] = p.objs.OpensslWriteExEnter, p.objs.OpensslReadExEnter
	}
	var added []link.Link
	for _, sym := range []string{"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"} {
		in, out, err := p.attachSymbol(ex, sym, enter[sym])
		if err != nil {
			if errors.Is(err, link.ErrNoSymbol) && (sym == "SSL_write_ex" || sym == "SSL_read_ex") {
				continue
			}
			for _, l := range added {
				l.Close()
			}
			return fmt.Errorf("uprobe %s in %s: %w", sym, o.path, err)
		}
		added = append(added, in, out)
	}
	p.links = append(p.links, added...)
	return nil
}

// attachSymbol puts the entry and the return probe on one function.
func (p *probes) attachSymbol(ex *link.Executable, sym string, enter *ebpf.Program) (in, out link.Link, err error) {
	if p.multi {
		in, err = ex.UprobeMulti([]string{sym}, enter, nil)
	} else {
		in, err = ex.Uprobe(sym, enter, nil)
	}
	if err != nil {
		return nil, nil, err
	}
	if p.multi {
		out, err = ex.UretprobeMulti([]string{sym}, p.objs.SslLeave, nil)
	} else {
		out, err = ex.Uretprobe(sym, p.objs.SslLeave, nil)
	}
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, out, nil
}

// attachGo puts go_write_enter and go_read_enter on crypto/tls.(*Conn).Write
// and Read, past their stack checks, and go_leave on each RET of Read, all
// by file offset, which the symbol table and the pclntab give alike.
func (p *probes) attachGo(ex *link.Executable, path string) error {
	g, err := inspectGo(path)
	if err != nil {
		return err
	}
	var added []link.Link
	for _, a := range []struct {
		offsets, cookies []uint64
		prog             *ebpf.Program
	}{
		{[]uint64{g.write.probe}, []uint64{g.write.tcpCookie}, p.objs.GoWriteEnter},
		{[]uint64{g.read.probe}, []uint64{g.read.tcpCookie}, p.objs.GoReadEnter},
		{g.read.rets, nil, p.objs.GoLeave},
	} {
		links, err := p.attachAt(ex, a.offsets, a.cookies, a.prog)
		if err != nil {
			for _, l := range added {
				l.Close()
			}
			return fmt.Errorf("uprobe in %s: %w", path, err)
		}
		added = append(added, links...)
	}
	p.links = append(p.links, added...)
	return nil
}

// attachAt puts prog on each file offset, with its cookie when given: one
// uprobe_multi link for all, or one perf uprobe each.
func (p *probes) attachAt(ex *link.Executable, offsets, cookies []uint64, prog *ebpf.Program) ([]link.Link, error) {
	if p.multi {
		l, err := ex.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: offsets, Cookies: cookies})
		if err != nil {
			return nil, err
		}
		return []link.Link{l}, nil
	}
	var links []link.Link
	for i, off := range offsets {
		opts := &link.UprobeOptions{Address: off}
		if cookies != nil {
			opts.Cookie = cookies[i]
		}
		l, err := ex.Uprobe("", prog, opts)
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

// losses sums the kernel's per-CPU loss counters, indexed as tls.c's
// enum loss.
func (p *probes) losses() ([3]uint64, error) {
	var out [3]uint64
	for i := range out {
		var perCPU []uint64
		if err := p.objs.Losses.Lookup(uint32(i), &perCPU); err != nil {
			return out, err
		}
		for _, n := range perCPU {
			out[i] += n
		}
	}
	return out, nil
}

func (p *probes) close() {
	if p.ring != nil {
		p.ring.Close()
	}
	for _, l := range p.links {
		l.Close()
	}
	p.objs.Close()
}

// ringBytes is the size of the ring buffer as the kernel made it.
func (p *probes) ringBytes() (uint32, error) {
	info, err := p.objs.Events.Info()
	if err != nil {
		return 0, err
	}
	return info.MaxEntries, nil
}
