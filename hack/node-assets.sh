#!/usr/bin/env bash
# Builds the rest of a one-node Kubernetes from the Go module proxy, at the
# API server's version: kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy and kubectl in one `go build` (they share most packages), and
# CoreDNS with the plugins the cluster's Corefile names. Cached by version;
# prints the directory holding them.
#
#   NODE_ASSETS="$(hack/node-assets.sh)"
#
# Progress goes to stderr; stdout carries only the path. A second run with the
# binaries in place returns at once.
set -euo pipefail

KUBE_VERSION="${PODTAP_ENVTEST_KUBE_VERSION:-1.37.2}"
COREDNS_VERSION="${PODTAP_COREDNS_VERSION:-1.15.0}"
CACHE_ROOT="${PODTAP_CACHE:-${HOME}/.cache/podtap}"
ASSETS="${CACHE_ROOT}/node/k8s-${KUBE_VERSION}-coredns-${COREDNS_VERSION}"
KUBE_CMDS=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

log() { printf 'node-assets: %s\n' "$*" >&2; }

kube_ready() {
	local c
	for c in "${KUBE_CMDS[@]}"; do
		[[ -x "${ASSETS}/${c}" ]] || return 1
	done
}

ready() { kube_ready && [[ -x "${ASSETS}/coredns" ]]; }

# shellcheck source=hack/kube-module.sh
source "$(dirname "$0")/kube-module.sh"
cached_or_locked

WORK="$(mktemp -d "${TMPDIR:-/tmp}/podtap-node.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

# Upstream builds these commands static too.
export CGO_ENABLED=0

build_kube() {
	kube_module_init "${WORK}/kube" "${KUBE_VERSION}"
	local out="${WORK}/out" pkgs=() c
	mkdir -p "${out}"
	for c in "${KUBE_CMDS[@]}"; do
		pkgs+=("k8s.io/kubernetes/cmd/${c}")
	done
	go build -trimpath -ldflags "$(kube_ldflags "${KUBE_VERSION}")" -o "${out}/" "${pkgs[@]}" >&2
	for c in "${KUBE_CMDS[@]}"; do
		mv "${out}/${c}" "${ASSETS}/${c}"
	done
}

build_coredns() {
	local dir="${WORK}/coredns"
	mkdir -p "${dir}"
	cd "${dir}"
	go mod init podtap.local/coredns >/dev/null 2>&1
	# CoreDNS' own main registers every plugin, most of them for clouds; the
	# cluster's Corefile needs only these.
	cat >main.go <<'GO'
// Command coredns is CoreDNS' server with the plugins of a cluster's DNS.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
GO
	go get "github.com/coredns/coredns@v${COREDNS_VERSION}" >&2
	go mod tidy >&2
	go build -trimpath -ldflags "-s -w" -o "${ASSETS}/coredns.tmp" . >&2
	mv "${ASSETS}/coredns.tmp" "${ASSETS}/coredns"
}

start=${SECONDS}
if ! kube_ready; then
	log "building ${KUBE_CMDS[*]} v${KUBE_VERSION} into ${ASSETS} (about 15 minutes on 2 cores)"
	(build_kube)
fi
if [[ ! -x "${ASSETS}/coredns" ]]; then
	log "building coredns v${COREDNS_VERSION} into ${ASSETS}"
	(build_coredns)
fi
log "built in $((SECONDS - start))s"

"${ASSETS}/kubelet" --version >&2
"${ASSETS}/kubectl" version --client >&2

printf '%s\n' "${ASSETS}"
