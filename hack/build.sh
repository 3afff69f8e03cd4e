#!/usr/bin/env bash
# Builds one podtap binary exactly as the container images do: static
# (CGO_ENABLED=0), trimmed paths, the version stamped in.
#
#   hack/build.sh podtap-sidecar v1.2.3 bin/podtap-sidecar
set -euo pipefail
name="${1:?usage: hack/build.sh NAME VERSION OUT}"
version="${2:?usage: hack/build.sh NAME VERSION OUT}"
out="${3:?usage: hack/build.sh NAME VERSION OUT}"
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "${out}" "./cmd/${name}"
