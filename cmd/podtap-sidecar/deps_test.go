package main

import (
	"os/exec"
	"strings"
	"testing"
)

// demoOnly are the packages of the local demo: a Kafka broker, network
// namespace setup and the demo services. The sidecar runs as root with
// NET_RAW in every injected pod, so none of that may ship in it.
var demoOnly = []string{
	"github.com/twmb/franz-go/pkg/kfake",
	"github.com/podtap/podtap/internal/demoapp",
	"github.com/podtap/podtap/internal/grpcdemo",
	"github.com/podtap/podtap/internal/netns",
}

// deps lists what the binary built from pkg links, as the go tool sees it.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	set := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		set[line] = true
	}
	return set
}

func TestSidecarDoesNotLinkTheDemo(t *testing.T) {
	sidecarDeps := deps(t, "github.com/podtap/podtap/cmd/podtap-sidecar")
	// The demo does link them: this proves the query sees what it looks for.
	demoDeps := deps(t, "github.com/podtap/podtap/cmd/podtap-demo")
	for _, pkg := range demoOnly {
		if !demoDeps[pkg] {
			t.Errorf("podtap-demo does not depend on %s; update demoOnly", pkg)
		}
		if sidecarDeps[pkg] {
			t.Errorf("podtap-sidecar links %s, which belongs to podtap-demo only", pkg)
		}
	}
}

// TestCoverageReportLinksNoStage: `consume --coverage` reads reports with
// coverage's types alone, so a consumer of the topic needs none of the
// pipeline's.
func TestCoverageReportLinksNoStage(t *testing.T) {
	cov := deps(t, "github.com/podtap/podtap/sidecar/coverage")
	if !deps(t, "github.com/podtap/podtap/sidecar")["github.com/podtap/podtap/sidecar/message"] {
		t.Fatal("the pipeline does not depend on sidecar/message; the check below proves nothing")
	}
	for pkg := range cov {
		if strings.HasPrefix(pkg, "github.com/podtap/podtap/") && pkg != "github.com/podtap/podtap/sidecar/coverage" {
			t.Errorf("sidecar/coverage links %s", pkg)
		}
	}
}

// TestSidecarDoesNotLinkTheReceiversPodMap keeps client-go and the
// receiver's pod informer out of the sidecar, which runs in every
// injected pod; podtap-receiver links them.
func TestSidecarDoesNotLinkTheReceiversPodMap(t *testing.T) {
	sidecarDeps := deps(t, "github.com/podtap/podtap/cmd/podtap-sidecar")
	receiverDeps := deps(t, "github.com/podtap/podtap/cmd/podtap-receiver")
	for _, pkg := range []string{"k8s.io/client-go/kubernetes", "github.com/podtap/podtap/receiver/pods"} {
		if !receiverDeps[pkg] {
			t.Errorf("podtap-receiver does not depend on %s; update this test", pkg)
		}
		if sidecarDeps[pkg] {
			t.Errorf("podtap-sidecar links %s, which belongs to podtap-receiver only", pkg)
		}
	}
}
