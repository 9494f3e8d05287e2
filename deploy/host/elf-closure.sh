#!/usr/bin/env bash
# Copies arm64 (aarch64) ELF executables into a root file system tree together with everything
# the dynamic loader needs to start them there: the shared libraries they need, recursively
# (readelf -d NEEDED), and their ELF interpreter. Used for the L1 initramfs of the e2e bed
# (tests/e2e/l1/mk-initramfs.sh) and for the container image (deploy/image/build-image.sh).
#   ROOT/usr/bin/<name>                    each ELF
#   ROOT/usr/lib/aarch64-linux-gnu/<soname> each library (the file its soname resolves to)
#   ROOT/lib/ld-linux-aarch64.so.1         the interpreter (at the path the ELF requests)
# Libraries are looked up, in this order, in $ELF_CLOSURE_LIBDIRS (colon-separated), the arm64
# multiarch dirs of this machine (the :arm64 packages `make deps` installs), the cross sysroot
# of `make cross-sysroot` (build/cross/sysroot) and the cross toolchain's libc. A library
# already in ROOT is kept, so a second call into the same ROOT adds only what is missing.
# With $ELF_CLOSURE_SOURCES set, a line "<path in ROOT> <file copied>" is appended to that file
# for each library and interpreter copied (the image build names their Debian packages).
# usage: elf-closure.sh ROOT ELF...
set -euo pipefail

die() { echo "elf-closure: error: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: elf-closure.sh ROOT ELF..."
root=$(realpath -m "$1")
shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
libdirs=()
[ -z "${ELF_CLOSURE_LIBDIRS:-}" ] || IFS=: read -r -a libdirs <<<"$ELF_CLOSURE_LIBDIRS"
libdirs+=(/usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu
  "$repo/build/cross/sysroot/usr/lib/aarch64-linux-gnu" /usr/aarch64-linux-gnu/lib)
libdir=usr/lib/aarch64-linux-gnu

resolve() {
  local d
  for d in "${libdirs[@]}"; do
    if [ -e "$d/$1" ]; then realpath "$d/$1"; return 0; fi
  done
  return 1
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'; }
# Where a library goes in ROOT: the loader at /lib (its ABI path), the rest in the multiarch dir.
dest() { if [[ $1 == ld-linux-* ]]; then echo "$root/lib/$1"; else echo "$root/$libdir/$1"; fi; }

# copy SRC DEST: cp, and the line in $ELF_CLOSURE_SOURCES.
copy() {
  cp "$1" "$2"
  [ -z "${ELF_CLOSURE_SOURCES:-}" ] || echo "${2#"$root"} $1" >>"$ELF_CLOSURE_SOURCES"
}

mkdir -p "$root/usr/bin" "$root/$libdir" "$root/lib"
queue=() added=0
for elf in "$@"; do
  [ -f "$elf" ] || die "no such file: $elf"
  readelf -h "$elf" 2>/dev/null | grep -q 'Machine:.*AArch64' || die "$elf is not an aarch64 ELF"
  install -m 0755 "$elf" "$root/usr/bin/$(basename "$elf")"
  interp=$(readelf -l "$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
    real=$(resolve "$(basename "$interp")") || die "cannot find the ELF interpreter $interp"
    mkdir -p "$root$(dirname "$interp")"
    copy "$real" "$root$interp"
  fi
  queue+=("$elf")
done
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  while read -r so; do
    [ -n "$so" ] || continue
    [ -z "${seen[$so]:-}" ] || continue
    seen[$so]=1
    to=$(dest "$so")
    [ ! -e "$to" ] || continue
    real=$(resolve "$so") || die "cannot find $so (needed by $f) in ${libdirs[*]}"
    copy "$real" "$to"
    added=$((added + 1))
    queue+=("$real")
  done < <(needed "$f")
done
echo "elf-closure: $(printf '%s ' "${@##*/}")+ $added shared libraries into $root" \
  "($(du -sh "$root/$libdir" | cut -f1) in /$libdir)" >&2
