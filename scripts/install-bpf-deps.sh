#!/bin/sh
# Installs the Debian/Ubuntu packages needed to regenerate the committed BPF skeleton
# (scripts/gen-bpf-skeleton.sh) or check it (scripts/check-bpf-skeleton.sh): clang and llvm-strip
# to compile native/kernel/tcpdir.bpf.c, libbpf-dev for its BPF-side headers, bpftool for the
# skeleton. Building and running tcpdir needs none of them. Idempotent.
set -eu
pkgs="clang llvm libbpf-dev bpftool"
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
