#!/usr/bin/env bash
# Installs the Debian packages podtap's tests, demo and bench use, when
# missing: iproute2 (network namespaces and veth pairs), kcat (an
# independent Kafka client for the Kafka tests), wrk (the load generator
# of the bench's overhead scenario), nginx and curl (the mirrored "pod" of
# the VXLAN receiver test and its client, and the bench's large-body live
# row), tcpdump (the bench's read floor: its replay CPU is given as a
# multiple of `tcpdump -r`'s), nodejs and npm (the grpc-js server of
# sidecar/grpc's Node reflection test), and the node of
# hack/local-cluster.sh: containerd, runc, the CNI plugins, iptables
# (kube-proxy) and openssl (its certificates), and binutils (strip, for
# the stripped Go binary of the TLS capture tests). Idempotent; needs root
# to install.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# The TLS capture tests' other TLS libraries: GnuTLS's server (which TLS
# capture cannot read), OpenSSL to link statically, and BoringSSL.
command -v gnutls-serv >/dev/null 2>&1 || need+=(gnutls-bin)
[ -e /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -e /usr/include/android/openssl/ssl.h ] || need+=(android-libboringssl-dev)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v strip >/dev/null 2>&1 || need+=(binutils)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "hack/deps.sh: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "hack/deps.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
