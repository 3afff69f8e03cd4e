#!/usr/bin/env bash
# The test suite, as the README and CI run it: installs what is missing,
# builds (or reuses) the envtest assets, then runs every Go test. Run as
# root: the live tests make network namespaces and capture packets.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "hack/test.sh: run as root (sudo): the live tests create network namespaces and capture packets" >&2
  exit 1
fi
bash hack/deps.sh
KUBEBUILDER_ASSETS="$(bash hack/envtest-assets.sh)"
export KUBEBUILDER_ASSETS
# The rest of the e2e test's one-node cluster (hack/local-cluster.sh), built
# before the tests' timeout starts counting.
bash hack/node-assets.sh >/dev/null
# helm for the chart checks in e2e/, built from the Go module proxy, cached.
HELM="$(bash hack/helm.sh)"
export HELM
# The npm packages of the grpc-js server in sidecar/grpc's Node test, cached.
PODTAP_GRPC_NODE_MODULES="$(bash hack/node-deps.sh)"
export PODTAP_GRPC_NODE_MODULES
# Root-only and tool-dependent tests fail instead of skipping when CI is set.
export CI="${CI:-true}"
# Build and vet once up front so a compile error reads as one.
go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/podtap-sidecar
# The corpus comparison tables, for the log: each capture's expected,
# matched, missing and extra pairs against the ground truth.
go test -count=1 -run 'TestReplayCorpus' -v ./sidecar/ 2>&1 | sed -n '/capture  .*expected\|capture  .*streams/,/total/p'
go test -count=1 -timeout 40m "$@" ./...
