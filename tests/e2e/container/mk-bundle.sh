#!/usr/bin/env bash
# Makes an OCI runtime bundle of vmmd's image for the container scenario: `umoci unpack` of the
# layout's one tag (rootfs/ + config.json), then oci-config.py adjusts config.json (/dev/kvm,
# bind mounts, host network; see there).
# usage: tests/e2e/container/mk-bundle.sh IMAGE_LAYOUT OUT_BUNDLE   (layout: make image)
set -euo pipefail

die() { echo "mk-bundle: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: mk-bundle.sh IMAGE_LAYOUT OUT_BUNDLE"
layout=$1 bundle=$2
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$layout/index.json" ] || die "no OCI layout at $layout (run: make image)"
mapfile -t tags < <(umoci ls --layout "$layout")
[ ${#tags[@]} -eq 1 ] || die "$layout has tags '${tags[*]}', expected one"
rm -rf "$bundle"
umoci unpack --image "$layout:${tags[0]}" "$bundle" >/dev/null
"$here/oci-config.py" "$bundle/config.json"
echo "mk-bundle: $bundle from $layout:${tags[0]} ($(du -sh "$bundle/rootfs" | cut -f1))" >&2
