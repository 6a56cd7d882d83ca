#!/bin/sh
# Installs the Debian/Ubuntu packages needed to build the eBPF addon (tcpdir_kernel).
# Idempotent: does nothing when all are already installed. Runtime needs only libbpf1,
# libelf1 and zlib1g, which libbpf-dev pulls in.
set -eu
pkgs="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-bpf-deps: already installed: $pkgs"
  exit 0
fi
echo "install-bpf-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
