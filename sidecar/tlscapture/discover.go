package tlscapture

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/podtap/podtap/config"
)

// object is one binary or shared library that holds a TLS library's
// SSL_read/SSL_write, as a path the sidecar can open.
type object struct {
	path    string // through /proc/PID/root, so it resolves in the app's mount namespace
	library string // config.TLSLibrary*
}

// fileID names a file across mount namespaces: uprobes attach to an inode,
// so each is probed once however many processes map it.
type fileID struct{ dev, ino uint64 }

// processes lists the PIDs under proc, other than the sidecar's own.
func processes(proc string) []uint32 {
	entries, _ := os.ReadDir(proc)
	self := uint32(os.Getpid())
	var pids []uint32
	for _, e := range entries {
		n, err := strconv.ParseUint(e.Name(), 10, 32)
		if err == nil && uint32(n) != self {
			pids = append(pids, uint32(n))
		}
	}
	return pids
}

// objectsOf finds the files of pid that hold TLS functions: a mapped
// libssl.so.*, or the executable itself when it links the library
// statically. Only libraries in want are returned. exes caches which
// library each executable (and each libcrypto.so.*) is, as reading a
// symbol table is the costly part of a scan.
func objectsOf(proc string, pid uint32, want map[string]bool, exes map[fileID]string) ([]object, error) {
	root := fmt.Sprintf("%s/%d/root", proc, pid)
	f, err := os.Open(fmt.Sprintf("%s/%d/maps", proc, pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var objs []object
	var ssl []string
	shared := config.TLSLibraryOpenSSL
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || seen[fields[5]] {
			continue
		}
		path := fields[5]
		seen[path] = true
		switch base := filepath.Base(path); {
		case strings.HasPrefix(base, "libssl.so"):
			ssl = append(ssl, root+path)
		case strings.HasPrefix(base, "libcrypto.so") && cryptoLibrary(root+path, exes) == config.TLSLibraryBoringSSL:
			shared = config.TLSLibraryBoringSSL
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, path := range ssl {
		if want[shared] {
			objs = append(objs, object{path: path, library: shared})
		}
	}
	exe := fmt.Sprintf("%s/%d/exe", proc, pid)
	id, err := idOf(exe)
	if err != nil {
		return objs, nil
	}
	lib, ok := exes[id]
	if !ok {
		lib = staticLibrary(exe)
		exes[id] = lib
	}
	if lib != "" && want[lib] {
		objs = append(objs, object{path: exe, library: lib})
	}
	return objs, nil
}

// staticLibrary reports which TLS library an executable links statically:
// Go's crypto/tls by the symbol table or the pclntab, OpenSSL by its
// symbol table, BoringSSL by the BORINGSSL_* symbols it marks itself with.
func staticLibrary(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if usesGoTLS(f) {
		return config.TLSLibraryGo
	}
	syms, err := f.Symbols()
	if err != nil {
		return ""
	}
	hasSSL, boring := false, false
	for _, s := range syms {
		switch {
		case s.Name == "SSL_write" && s.Value != 0:
			hasSSL = true
		case strings.HasPrefix(s.Name, "BORINGSSL_"):
			boring = true
		}
	}
	switch {
	case !hasSSL:
		return ""
	case boring:
		return config.TLSLibraryBoringSSL
	}
	return config.TLSLibraryOpenSSL
}

// cryptoLibrary tells BoringSSL's shared libcrypto, whose BORINGSSL_*
// symbols mark it (its libssl.so has none, and looks like OpenSSL's), from
// OpenSSL's. Each file is read once.
func cryptoLibrary(path string, cache map[fileID]string) string {
	id, err := idOf(path)
	if err != nil {
		return config.TLSLibraryOpenSSL
	}
	if lib, ok := cache[id]; ok {
		return lib
	}
	lib := config.TLSLibraryOpenSSL
	if f, err := elf.Open(path); err == nil {
		syms, _ := f.DynamicSymbols()
		f.Close()
		for _, s := range syms {
			if strings.HasPrefix(s.Name, "BORINGSSL_") && s.Value != 0 {
				lib = config.TLSLibraryBoringSSL
				break
			}
		}
	}
	cache[id] = lib
	return lib
}

func idOf(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: st.Dev, ino: st.Ino}, nil
}
