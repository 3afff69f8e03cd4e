#!/usr/bin/env bash
# Builds the envtest binaries (kube-apiserver, etcd) from the Go module proxy,
# because no prebuilt release can be downloaded on the CI machines, and caches
# them by version. Prints the directory to export as KUBEBUILDER_ASSETS.
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
#
# Progress goes to stderr; stdout carries only the path. A second run with the
# binaries in place returns at once.
set -euo pipefail

KUBE_VERSION="${PODTAP_ENVTEST_KUBE_VERSION:-1.37.2}"
ETCD_VERSION="${PODTAP_ENVTEST_ETCD_VERSION:-3.7.3}"
CACHE_ROOT="${PODTAP_CACHE:-${HOME}/.cache/podtap}"
ASSETS="${CACHE_ROOT}/envtest/k8s-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { printf 'envtest-assets: %s\n' "$*" >&2; }

ready() {
	[[ -x "${ASSETS}/kube-apiserver" && -x "${ASSETS}/etcd" ]]
}

# shellcheck source=hack/kube-module.sh
source "$(dirname "$0")/kube-module.sh"
cached_or_locked

WORK="$(mktemp -d "${TMPDIR:-/tmp}/podtap-envtest.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

export CGO_ENABLED=0

build_etcd() {
	local dir="${WORK}/etcd"
	mkdir -p "${dir}"
	cd "${dir}"
	go mod init podtap.local/envtest-etcd >/dev/null 2>&1
	cat >main.go <<'GO'
// Command etcd is etcd's own server entry point, built from the module proxy
// because `go install` of etcd's main package is refused.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
	go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
	go mod tidy >&2
	go build -trimpath -ldflags "-s -w" -o "${ASSETS}/etcd.tmp" . >&2
	mv "${ASSETS}/etcd.tmp" "${ASSETS}/etcd"
}

build_apiserver() {
	kube_module_init "${WORK}/apiserver" "${KUBE_VERSION}"
	go build -trimpath -ldflags "$(kube_ldflags "${KUBE_VERSION}")" -o "${ASSETS}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
	mv "${ASSETS}/kube-apiserver.tmp" "${ASSETS}/kube-apiserver"
}

start=${SECONDS}
if [[ ! -x "${ASSETS}/etcd" ]]; then
	log "building etcd v${ETCD_VERSION} into ${ASSETS}"
	(build_etcd)
fi
if [[ ! -x "${ASSETS}/kube-apiserver" ]]; then
	log "building kube-apiserver v${KUBE_VERSION} into ${ASSETS} (about 8 minutes on 2 cores)"
	(build_apiserver)
fi
log "built in $((SECONDS - start))s"

"${ASSETS}/kube-apiserver" --version >&2
"${ASSETS}/etcd" --version >&2

printf '%s\n' "${ASSETS}"
