package tlscapture

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"go/version"

	"golang.org/x/arch/x86/x86asm"
)

// Functions of a Go program that the probes use, by their names in the
// symbol table and in the pclntab (which stripped binaries keep).
const (
	goWrite    = "crypto/tls.(*Conn).Write"
	goRead     = "crypto/tls.(*Conn).Read"
	goTCPClose = "net.(*TCPConn).Close"
)

// goMinVersion is the first Go whose amd64 functions take their arguments
// in registers (ABIInternal), as tls.c reads them.
const goMinVersion = "go1.17"

// goFunc is one probed function, its places as file offsets (what uprobes
// attach to) and link-time addresses.
type goFunc struct {
	entry uint64 // the function's first instruction
	addr  uint64 // its address
	// probe is the entry probe's place: just past the stack check, which a
	// call that grows its stack runs twice (morestack jumps back to the
	// entry).
	probe     uint64
	probeAddr uint64
	rets      []uint64
	tcpCookie uint64 // tls.c's go_socket cookie for the entry probe
}

// goTLS is what TLS capture needs of a Go binary that uses crypto/tls.
type goTLS struct {
	write, read goFunc
}

// errNotGoTLS is a binary that is not Go or has no crypto/tls in it.
var errNotGoTLS = errors.New("not a Go program with crypto/tls")

// goFuncs locates a function by its start and end address.
type goFuncs interface {
	lookup(name string) (start, end uint64, ok bool)
}

// symtab is the ELF symbol table of an unstripped binary.
type symtab map[string][2]uint64

func (s symtab) lookup(name string) (uint64, uint64, bool) {
	r, ok := s[name]
	return r[0], r[1], ok
}

// pclntab is the Go runtime's function table, which survives
// -ldflags='-s -w' and strip: the runtime needs it for stack traces.
type pclntab struct{ t *gosym.Table }

func (p pclntab) lookup(name string) (uint64, uint64, bool) {
	f := p.t.LookupFunc(name)
	if f == nil {
		return 0, 0, false
	}
	return f.Entry, f.End, true
}

// isGoBinary reports whether f was built by Go's linker.
func isGoBinary(f *elf.File) bool {
	return f.Section(".gopclntab") != nil || f.Section(".note.go.buildid") != nil
}

// inspectGo finds crypto/tls in the Go program at path: where the entry
// probes of (*Conn).Write and (*Conn).Read go and their RET instructions,
// by the symbol table or, when stripped, the pclntab. It returns errNotGoTLS for a binary that
// is not Go or does not use crypto/tls, and another error for one TLS
// capture cannot probe (another architecture, a Go before register
// arguments, code that does not disassemble).
func inspectGo(path string) (*goTLS, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !isGoBinary(f) {
		return nil, errNotGoTLS
	}
	funcs, err := goFunctions(f)
	if err != nil {
		return nil, err
	}
	if _, _, ok := funcs.lookup(goWrite); !ok {
		return nil, errNotGoTLS
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("a Go program for %v: Go crypto/tls is probed on amd64 only", f.Machine)
	}
	if bi, err := buildinfo.ReadFile(path); err == nil && version.IsValid(bi.GoVersion) && version.Compare(bi.GoVersion, goMinVersion) < 0 {
		return nil, fmt.Errorf("built by %s: Go crypto/tls is probed from %s on (register arguments)", bi.GoVersion, goMinVersion)
	}
	closeAt, _, hasTCP := funcs.lookup(goTCPClose)
	g := &goTLS{}
	for _, fn := range []struct {
		name string
		out  *goFunc
	}{{goWrite, &g.write}, {goRead, &g.read}} {
		start, end, ok := funcs.lookup(fn.name)
		if !ok {
			return nil, fmt.Errorf("%s is missing beside %s", fn.name, goWrite)
		}
		if *fn.out, err = locate(f, start, end); err != nil {
			return nil, fmt.Errorf("%s: %w", fn.name, err)
		}
		// Left 0 without TCP, which tells go_socket that no conn of this
		// binary can be mapped.
		if hasTCP {
			fn.out.tcpCookie = closeAt - fn.out.probeAddr
		}
	}
	return g, nil
}

// usesGoTLS reports whether f is a Go program with crypto/tls in it.
func usesGoTLS(f *elf.File) bool {
	if !isGoBinary(f) {
		return false
	}
	funcs, err := goFunctions(f)
	if err != nil {
		return false
	}
	_, _, ok := funcs.lookup(goWrite)
	return ok
}

// goFunctions reads the symbol table, or the pclntab when there is none.
func goFunctions(f *elf.File) (goFuncs, error) {
	if syms, err := f.Symbols(); err == nil {
		st := symtab{}
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 && s.Size != 0 {
				st[s.Name] = [2]uint64{s.Value, s.Value + s.Size}
			}
		}
		if _, _, ok := st.lookup(goWrite); ok {
			return st, nil
		}
	}
	sec, text := f.Section(".gopclntab"), f.Section(".text")
	if sec == nil || text == nil {
		return nil, errors.New("a Go program with neither a symbol table nor a .gopclntab section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	// From Go 1.18 on the table's own text address may be unrelocated
	// (PIE); gosym then takes the one given here.
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	return pclntab{t}, nil
}

// locate disassembles the function at [start, end) and returns the file
// offsets of its entry, of the instruction past its stack check and of
// every RET in it.
func locate(f *elf.File, start, end uint64) (goFunc, error) {
	if end <= start || end-start > 1<<20 {
		return goFunc{}, fmt.Errorf("implausible bounds %#x-%#x", start, end)
	}
	prog := segmentOf(f, start)
	if prog == nil || end > prog.Vaddr+prog.Filesz {
		return goFunc{}, fmt.Errorf("%#x is in no executable segment", start)
	}
	code := make([]byte, end-start)
	if _, err := prog.ReadAt(code, int64(start-prog.Vaddr)); err != nil {
		return goFunc{}, fmt.Errorf("reading the code: %w", err)
	}
	toFile := func(addr uint64) uint64 { return addr - prog.Vaddr + prog.Off }
	fn := goFunc{entry: toFile(start), addr: start}
	// Go's prologue compares the stack pointer with g.stackguard0 (16 off
	// r14, g) and branches to morestack, then sets up the frame.
	var checked, jumped bool
	for pc, i := 0, 0; pc < len(code); i++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			// A RET missed behind undecodable bytes would leave calls in
			// flight: refuse the function rather than guess.
			return goFunc{}, fmt.Errorf("cannot disassemble at %#x: %w", start+uint64(pc), err)
		}
		switch {
		case inst.Op == x86asm.RET:
			fn.rets = append(fn.rets, toFile(start+uint64(pc)))
		case i < 6 && fn.probeAddr == 0 && !checked && readsStackGuard(inst):
			checked = true
		case i < 6 && fn.probeAddr == 0 && checked && (inst.Op == x86asm.JBE || inst.Op == x86asm.JB):
			jumped = true
		case i < 6 && fn.probeAddr == 0 && jumped && inst.Op == x86asm.PUSH && inst.Args[0] == x86asm.RBP:
			fn.probeAddr = start + uint64(pc)
			fn.probe = toFile(fn.probeAddr)
		}
		pc += inst.Len
	}
	switch {
	case fn.probeAddr == 0:
		return goFunc{}, errors.New("no stack check and frame set-up where Go puts them")
	case len(fn.rets) == 0:
		return goFunc{}, errors.New("no RET instruction")
	}
	return fn, nil
}

// readsStackGuard reports whether inst compares with 16(R14), g's
// stackguard0.
func readsStackGuard(inst x86asm.Inst) bool {
	if inst.Op != x86asm.CMP {
		return false
	}
	for _, a := range inst.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.R14 && m.Disp == 16 {
			return true
		}
	}
	return false
}

// segmentOf is the loadable, executable segment holding addr.
func segmentOf(f *elf.File, addr uint64) *elf.Prog {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return p
		}
	}
	return nil
}
