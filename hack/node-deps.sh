#!/usr/bin/env bash
# Installs the npm packages of sidecar/grpc/testdata/node (the grpc-js
# server of the Node reflection test) with `npm ci`, exactly as its
# package-lock.json pins them, into a cache directory named for the lock
# file's hash, reused while the lock is unchanged. Prints the node_modules
# directory, which the test reads from PODTAP_GRPC_NODE_MODULES.
set -euo pipefail
cd "$(dirname "$0")/../sidecar/grpc/testdata/node"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "hack/node-deps.sh: $tool missing; install it (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
hash="$(sha256sum package-lock.json | cut -c1-16)"
dir="${PODTAP_CACHE:-$HOME/.cache/podtap}/grpc-node-$hash"
if [ ! -d "$dir/node_modules/@grpc/reflection" ]; then
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  cp package.json package-lock.json "$dir.tmp/"
  # No install scripts: the packages need none, and the test runs as root.
  (cd "$dir.tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
echo "$dir/node_modules"
