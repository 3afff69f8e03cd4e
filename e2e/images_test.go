package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// image is what the test's images hold: one static binary at a path of
// its root filesystem, the entrypoint and cmd, and the user.
type image struct {
	binary     string // on the host
	path       string // in the image
	entrypoint []string
	cmd        []string
	user       string // as USER has it
	uid, gid   int
}

// dockerImage reads the final stage of a Dockerfile the way the image is
// built from it: the binary COPY --from puts in, ENTRYPOINT, CMD and USER.
// The image written from it runs exactly what the Dockerfile's would.
func dockerImage(t *testing.T, dockerfile, binary string) image {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var img image
	final := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			// Each FROM starts a stage; the last one is the image.
			img, final = image{binary: binary}, !strings.Contains(strings.ToLower(rest), " as ")
		case "COPY":
			if f := strings.Fields(rest); final && len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
				img.path = f[2]
			}
		case "ENTRYPOINT":
			img.entrypoint = execForm(t, dockerfile, rest)
		case "CMD":
			img.cmd = execForm(t, dockerfile, rest)
		case "USER":
			img.user = rest
			u, g, _ := strings.Cut(rest, ":")
			if img.uid, err = strconv.Atoi(u); err != nil {
				t.Fatalf("%s: USER %s is not numeric", dockerfile, rest)
			}
			img.gid = img.uid
			if g != "" {
				if img.gid, err = strconv.Atoi(g); err != nil {
					t.Fatalf("%s: USER %s is not numeric", dockerfile, rest)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// A final stage copying a folder of binaries runs one of them.
	if strings.HasSuffix(img.path, "/") && len(img.entrypoint) > 0 {
		img.path += strings.TrimPrefix(img.entrypoint[0], "/")
	}
	if !final || img.path == "" || len(img.entrypoint) == 0 || img.entrypoint[0] != img.path {
		t.Fatalf("%s: the final stage does not copy a binary and run it: %+v", dockerfile, img)
	}
	return img
}

func execForm(t *testing.T, dockerfile, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("%s: %q is not the exec form: %v", dockerfile, s, err)
	}
	return out
}

// testAppImage is the test application's image: registry names stand for
// the containers the test pods declare.
func testAppImage(binary string) image {
	return image{binary: binary, path: "/testapp", entrypoint: []string{"/testapp"}}
}

// tarball writes the image under tag with e2e/ociimage, for containerd to
// import, and returns its path.
func (img image) tarball(t *testing.T, ociimage, tag string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	args := []string{"-o", out, "-tag", tag, "-file", img.binary + "=" + img.path, "-entrypoint", jsonString(t, img.entrypoint)}
	if img.cmd != nil {
		args = append(args, "-cmd", jsonString(t, img.cmd))
	}
	if img.user != "" {
		args = append(args, "-user", img.user)
	}
	if b, err := exec.Command(ociimage, args...).CombinedOutput(); err != nil {
		t.Fatalf("ociimage %s: %v\n%s", tag, err, b)
	}
	return out
}

func jsonString(t *testing.T, v []string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfiles holds the images to what the issue asks of them: a
// static build by hack/build.sh (the command CI runs) on the Go of go.mod,
// the version as a build argument, and a distroless final stage with the
// binaries alone; the webhook's as a non-root user.
func TestDockerfiles(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	for _, name := range []string{"podtap-sidecar", "podtap-webhook"} {
		file := "Dockerfile." + strings.TrimPrefix(name, "podtap-")
		raw, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		df := string(raw)
		for _, want := range []string{
			"FROM golang:" + goVersion + "-",
			"ARG VERSION",
			`RUN hack/build.sh ` + name + ` "${VERSION}" /out/` + name,
			"FROM gcr.io/distroless/static-",
		} {
			if !strings.Contains(df, want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
		final := df[strings.LastIndex(df, "\nFROM "):]
		if n := strings.Count(final, "\nCOPY "); n != 1 {
			t.Errorf("%s: the final stage has %d COPY instructions; want the binaries alone", file, n)
		}
		img := dockerImage(t, file, "")
		if name == "podtap-webhook" && img.uid == 0 {
			t.Errorf("%s runs as root", file)
		}
	}
}
