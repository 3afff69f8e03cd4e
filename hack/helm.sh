#!/usr/bin/env bash
# Builds helm from the Go module proxy, as `go install` does, with the
# ldflags of helm's own Makefile (version, and the Kubernetes version that
# `helm template` and `helm lint` assume), and caches it by version. Prints
# the binary's path, to export as HELM:
#
#   export HELM="$(hack/helm.sh)"
#
# No helm release can be downloaded on the CI machines, and a binary keeps
# helm's large dependency tree out of podtap's go.mod. Progress goes to
# stderr; a second run with the binary in place returns at once.
set -euo pipefail

HELM_VERSION="${PODTAP_HELM_VERSION:-3.22.0}"
CACHE_ROOT="${PODTAP_CACHE:-${HOME}/.cache/podtap}"
BIN="${CACHE_ROOT}/bin/helm-v${HELM_VERSION}"

log() { printf 'helm.sh: %s\n' "$*" >&2; }

if [[ -x "${BIN}" ]]; then
	printf '%s\n' "${BIN}"
	exit 0
fi

mkdir -p "${CACHE_ROOT}/bin"
# Two CI jobs on one machine must not build the same thing twice at once.
exec 9>"${BIN}.lock"
flock 9
if [[ -x "${BIN}" ]]; then
	printf '%s\n' "${BIN}"
	exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/podtap-helm.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT
cd "${WORK}"
# `go install pkg@version` must not inherit the project's module settings.
export GOFLAGS="-mod=mod -buildvcs=false"
export GOWORK=off
export CGO_ENABLED=0

module="helm.sh/helm/v3"
gomod="$(go mod download -json "${module}@v${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[[ -f "${gomod}" ]] || { log "cannot find go.mod of ${module}@v${HELM_VERSION}"; exit 1; }
# helm's Makefile stamps the minor of the client-go it builds with.
k8s="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "${gomod}")"
k8s_minor="${k8s#v0.}"
k8s_minor="${k8s_minor%%.*}"
[[ "${k8s_minor}" =~ ^[0-9]+$ ]] || { log "cannot read the client-go version from ${gomod}"; exit 1; }

ldflags="-s -w -X ${module}/internal/version.version=v${HELM_VERSION}"
for pkg in pkg/chartutil pkg/lint/rules; do
	ldflags+=" -X ${module}/${pkg}.k8sVersionMajor=1 -X ${module}/${pkg}.k8sVersionMinor=${k8s_minor}"
done

log "building helm v${HELM_VERSION} (Kubernetes 1.${k8s_minor}) into ${BIN} (about 2 minutes on 2 cores)"
start=${SECONDS}
GOBIN="${WORK}/bin" go install -trimpath -ldflags "${ldflags}" "${module}/cmd/helm@v${HELM_VERSION}" >&2
mv "${WORK}/bin/helm" "${BIN}"
log "built in $((SECONDS - start))s"
"${BIN}" version >&2
printf '%s\n' "${BIN}"
