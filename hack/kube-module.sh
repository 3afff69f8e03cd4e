# Sourced by hack/envtest-assets.sh and hack/node-assets.sh: the cache
# check and build lock they share, a throwaway Go module that can build
# k8s.io/kubernetes' commands, and the ldflags that stamp their version.

# cached_or_locked: with the caller's ready() true, prints ASSETS and exits;
# otherwise takes ASSETS' build lock (two CI jobs on one machine must not
# build the same thing twice at once), checks again under it, and returns
# for the caller to build, with the environment its throwaway modules need.
cached_or_locked() {
	if ready; then
		printf '%s\n' "${ASSETS}"
		exit 0
	fi
	mkdir -p "${ASSETS}"
	exec 9>"${ASSETS}.lock"
	flock 9
	if ready; then
		printf '%s\n' "${ASSETS}"
		exit 0
	fi
	command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
	# The throwaway modules must not inherit the project's settings.
	export GOFLAGS="-mod=mod -buildvcs=false"
	export GOWORK=off
}

# kube_module_init DIR VERSION: makes DIR a module requiring
# k8s.io/kubernetes@vVERSION. k8s.io/kubernetes requires its staging modules
# at v0.0.0 and resolves them with replace directives of its own, which do
# not apply to a dependent module; each is mapped to the published release
# of the same minor.
kube_module_init() {
	local dir="$1" version="$2"
	mkdir -p "${dir}"
	cd "${dir}"
	go mod init podtap.local/kube-build >/dev/null 2>&1
	local gomod
	gomod="$(go mod download -json "k8s.io/kubernetes@v${version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -f "${gomod}" ]] || { printf 'cannot find go.mod of k8s.io/kubernetes@v%s\n' "${version}" >&2; return 1; }
	local staging="v0.${version#1.}"
	local mods
	mods="$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "${gomod}" | sort -u)"
	[[ -n "${mods}" ]] || { printf 'no v0.0.0 staging modules in %s\n' "${gomod}" >&2; return 1; }
	local m
	for m in ${mods}; do
		go mod edit -replace "${m}=${m}@${staging}"
	done
	go get "k8s.io/kubernetes@v${version}" >&2
}

# kube_ldflags VERSION: prints the ldflags of a stripped build stamped with
# VERSION, as `kubectl version` and the API server's /version report it.
kube_ldflags() {
	local version="$1"
	local major="${version%%.*}"
	local minor="${version#*.}"
	minor="${minor%%.*}"
	local ldflags="-s -w"
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X ${pkg}.gitVersion=v${version}"
		ldflags+=" -X ${pkg}.gitMajor=${major}"
		ldflags+=" -X ${pkg}.gitMinor=${minor}"
		ldflags+=" -X ${pkg}.gitTreeState=clean"
		ldflags+=" -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	done
	printf '%s\n' "${ldflags}"
}
