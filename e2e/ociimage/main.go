// Command ociimage writes a container image as a tarball that
// `ctr images import` reads, with go-containerregistry: one layer holding
// the given files (at any path, parents made) over what a distroless static base provides (a CA
// bundle, passwd and group entries for root, nobody and nonroot, /tmp),
// and the image's entrypoint, cmd and user.
//
//	ociimage -o out.tar -tag ghcr.io/podtap/podtap-sidecar:v0.1.0 \
//	  -file bin/podtap-sidecar=/podtap-sidecar -entrypoint '["/podtap-sidecar"]' -cmd '["run"]'
//
// No registry can be reached and no image builder runs on the machines
// podtap's end-to-end tests and local cluster use.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// caBundle is where Debian keeps its CA bundle, and where distroless has it.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// Distroless static's users and groups.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "tarball to write")
	tag := flag.String("tag", "", "the image's name, as pods refer to it")
	entrypoint := flag.String("entrypoint", "", "ENTRYPOINT, a JSON array")
	cmd := flag.String("cmd", "", "CMD, a JSON array")
	user := flag.String("user", "", "USER, uid[:gid]")
	var add files
	flag.Var(&add, "file", "HOST=IMAGE: a file to put in, at that path, mode kept (repeatable)")
	flag.Parse()
	if *out == "" || *tag == "" {
		return errors.New("-o and -tag are required")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", *tag, err)
	}
	layer, err := rootLayer(add)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg := cf.Config.DeepCopy()
	cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=" + caBundle}
	cfg.User = *user
	if cfg.Entrypoint, err = jsonArray("-entrypoint", *entrypoint); err != nil {
		return err
	}
	if cfg.Cmd, err = jsonArray("-cmd", *cmd); err != nil {
		return err
	}
	if img, err = mutate.Config(img, *cfg); err != nil {
		return err
	}
	cf, err = img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := tarball.WriteToFile(*out, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	return nil
}

func jsonArray(flagName, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("%s %q is not a JSON array of strings: %w", flagName, s, err)
	}
	return v, nil
}

// rootLayer is the one layer: the base's files, then the given ones.
func rootLayer(add files) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(p string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, ModTime: epoch})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle to put in (Debian: apt-get install ca-certificates): %w", err)
	}
	base := []string{"etc", "etc/ssl", "etc/ssl/certs", "home", "root", "var", "proc", "sys", "dev"}
	for _, d := range base {
		if err := dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := dir("home/nonroot", 0o700); err != nil {
		return nil, err
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{"etc/passwd", []byte(passwd)}, {"etc/group", []byte(group)}, {strings.TrimPrefix(caBundle, "/"), ca}} {
		if err := file(f.path, 0o644, f.data); err != nil {
			return nil, err
		}
	}
	made := map[string]bool{"home/nonroot": true, "tmp": true}
	for _, d := range base {
		made[d] = true
	}
	for _, a := range add {
		host, in, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(in, "/") || strings.HasSuffix(in, "/") || strings.Contains(in, "//") {
			return nil, fmt.Errorf("-file %q: want HOST=/PATH, a file's absolute path in the image", a)
		}
		// Parents first, each once, as a tar that an image unpacks must have
		// them (a dynamically linked tool's libraries sit in /lib/...).
		parts := strings.Split(in[1:], "/")
		for i := 1; i < len(parts); i++ {
			if p := strings.Join(parts[:i], "/"); !made[p] {
				if err := dir(p, 0o755); err != nil {
					return nil, err
				}
				made[p] = true
			}
		}
		st, err := os.Stat(host)
		if err != nil {
			return nil, fmt.Errorf("-file %q: %w", a, err)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("-file %q: %w", a, err)
		}
		if err := file(in[1:], int64(st.Mode().Perm()), data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
