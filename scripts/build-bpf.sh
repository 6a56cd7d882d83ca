#!/bin/sh
# Compiles native/kernel/tcpdir.bpf.c into a BPF object and a libbpf skeleton header.
# Called by binding.gyp (target tcpdir_kernel) only when scripts/has-bpf-toolchain.js found
# clang, llvm-strip, bpftool and libbpf. Usage: build-bpf.sh <tcpdir.bpf.c> <skeleton.h>
set -eu
src=$1
skel=$2
out=$(dirname "$skel")
mkdir -p "$out"
obj="$out/tcpdir.bpf.o"
arch=$(uname -m)
case "$arch" in
  x86_64) target_arch=x86 ;;
  aarch64) target_arch=arm64 ;;
  *) target_arch=$arch ;;
esac
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$arch-linux-gnu")
clang -target bpf -D__TARGET_ARCH_"$target_arch" -g -O2 -Wall \
  -I"$(dirname "$src")" -idirafter /usr/include/"$multiarch" \
  -c "$src" -o "$obj.tmp"
# -g stripped: DWARF goes, BTF (needed for CO-RE) stays.
llvm-strip -g "$obj.tmp" -o "$obj"
rm -f "$obj.tmp"
bpftool gen skeleton "$obj" name tcpdir_bpf > "$skel.tmp"
mv "$skel.tmp" "$skel"
