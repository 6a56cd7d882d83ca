#!/bin/sh
# CI's guard that the committed BPF skeleton (native/kernel/gen/) is what native/kernel/*.bpf.c
# and tcpdir_records.h build today. Needs clang, llvm-strip and bpftool (install-bpf-deps.sh).
#  1. The sources' sha256 recorded in the header matches the sources (also a unit test in npm test).
#  2. A fresh build's manifest (skeleton declarations, every BTF type: the record layouts and the
#     kernel fields read, CO-RE relocation counts) equals the committed one.
#  3. With the clang and bpftool versions the header was made with, the whole header is
#     byte-identical (instructions included). Another clang may emit other instructions for the
#     same program, so there only 1 and 2 are compared, and this says so.
set -eu
cd "$(dirname "$0")/.."
gen=native/kernel/gen
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-bpf-skeleton: $*" >&2; echo "check-bpf-skeleton: regenerate with scripts/gen-bpf-skeleton.sh and commit native/kernel/gen/" >&2; exit 1; }

want=$(node scripts/bpf-sources-hash.js)
have=$(sed -n 's|^/\* sources-sha256: \([0-9a-f]*\) \*/$|\1|p' "$gen/tcpdir.lskel.h")
[ "$want" = "$have" ] || fail "the BPF sources changed since the skeleton was generated (sha256 $have, now $want)"

sh scripts/gen-bpf-skeleton.sh "$tmp" >/dev/null
diff -u "$gen/tcpdir.manifest.txt" "$tmp/tcpdir.manifest.txt" >&2 || fail "a fresh build's manifest differs from the committed one"

made_with=$(sed -n 's|^/\* \(clang\|bpftool\): .*|&|p' "$gen/tcpdir.lskel.h")
now_with=$(sed -n 's|^/\* \(clang\|bpftool\): .*|&|p' "$tmp/tcpdir.lskel.h")
if [ "$made_with" = "$now_with" ]; then
  cmp -s "$gen/tcpdir.lskel.h" "$tmp/tcpdir.lskel.h" || fail "same compiler, different header: the committed skeleton is stale"
  echo "check-bpf-skeleton: ok (sources hash, manifest, and the header byte for byte)"
else
  echo "check-bpf-skeleton: ok (sources hash and manifest; the header was made with another toolchain:"
  echo "$made_with" | sed 's/^/  committed: /'
  echo "$now_with" | sed 's/^/  here:      /'
  echo "  so its instructions were not compared)"
fi
