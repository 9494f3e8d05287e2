#!/usr/bin/env bash
# Builds vmmd's arm64 container image without a registry or a base image (`make image`):
#   OUT/vmmd-oci/              OCI image layout, tag = the project version (CMakeLists.txt)
#   OUT/vmmd-arm64.oci.tar     the same image as an oci-archive (skopeo), same tag
# One layer: the root file system of stage-rootfs.sh (the cross-built binaries and their
# shared libraries from Debian's arm64 packages). umoci writes the layer and the config:
# linux/arm64, entrypoint and arguments = the vmmd container's command and args in
# deploy/kubernetes/daemonset.yaml, user 0:0. Every file time and the creation time are
# $SOURCE_DATE_EPOCH (default 0), so the same inputs give the same image digest.
# A no-op while its inputs (binaries, scripts, daemonset, arm64 package versions) are unchanged.
# usage: deploy/image/build-image.sh OUT_DIR      env: VMMD_BIN_DIR, SOURCE_DATE_EPOCH
set -euo pipefail

die() { echo "build-image: error: $*" >&2; exit 1; }
out=$(realpath -m "${1:?usage: build-image.sh OUT_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bindir=${VMMD_BIN_DIR:-$repo/build/arm64/bin}
epoch=${SOURCE_DATE_EPOCH:-0}
layout=$out/vmmd-oci
archive=$out/vmmd-arm64.oci.tar
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || die "no $tool here (run: make deps)"
done
for b in vmmd vmmctl vmm-autoscaler; do
  [ -x "$bindir/$b" ] || die "$bindir/$b is not built (run: make build-arm64)"
done

version=$(sed -n 's/^project(vmmd VERSION \([0-9][0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
[ -n "$version" ] || die "no 'project(vmmd VERSION x.y.z' in CMakeLists.txt"
# The vmmd container's command and args in the DaemonSet: the image's entrypoint and cmd.
mapfile -t k8s < <(python3 - "$repo/deploy/kubernetes/daemonset.yaml" <<'PY'
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
c = next(c for c in spec["containers"] if c["name"] == "vmmd")
print("\n".join(["entrypoint=" + a for a in c["command"]] + ["cmd=" + a for a in c["args"]]))
PY
)
config=(--architecture=arm64 --os=linux --config.user=0:0 --config.workingdir=/
  --config.env=PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.exposedports=9477/tcp
  --config.stopsignal=SIGTERM
  --config.label=org.opencontainers.image.title=vmmd
  --config.label=org.opencontainers.image.version="$version"
  "--config.label=org.opencontainers.image.description=vmmd, vmmctl and vmm-autoscaler")
for kv in "${k8s[@]}"; do config+=("--config.${kv}"); done
[[ " ${config[*]} " == *" --config.entrypoint=/usr/bin/vmmd "* ]] ||
  die "daemonset.yaml's vmmd container does not run /usr/bin/vmmd: ${k8s[*]}"
kustomization=$repo/deploy/kubernetes/kustomization.yaml
tag=$(sed -n 's/^ *newTag: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$kustomization")
[ "$tag" = "$version" ] ||
  echo "build-image: note: $kustomization sets the tag '$tag'; this image is $version" >&2

# Up to date? The stamp holds a hash of every input.
inputs=$( {
  echo "$version $epoch ${config[*]}"
  sha256sum "$bindir"/{vmmd,vmmctl,vmm-autoscaler} "$here"/*.sh "$repo/deploy/host/elf-closure.sh"
  dpkg-query -W -f='${Package}:${Architecture} ${Version}\n' '*:arm64' 2>/dev/null
  ls "$repo/build/cross/debs"
} | sha256sum | cut -d' ' -f1)
stamp=$out/.inputs
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && [ -f "$layout/index.json" ] &&
  [ -f "$archive" ]; then
  exit 0
fi

work=$out/.work
rm -rf "$work" "$layout.new" "$stamp"
mkdir -p "$work"
"$here/stage-rootfs.sh" "$work/stage"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
image=$layout.new:$version
umoci init --layout "$layout.new"
umoci new --image "$image"
umoci unpack --image "$image" "$work/bundle"
cp -a "$work/stage/." "$work/bundle/rootfs/"
find "$work/bundle/rootfs" -exec touch -h -d "@$epoch" {} +
umoci repack --image "$image" --history.created="$created" \
  --history.created_by="deploy/image/build-image.sh: stage-rootfs.sh" "$work/bundle"
umoci config --image "$image" --created="$created" --history.created="$created" \
  --history.created_by="deploy/image/build-image.sh: umoci config" "${config[@]}"
umoci gc --layout "$layout.new"
chmod -R a+rX "$layout.new"
rm -rf "$layout" "$archive"
mv "$layout.new" "$layout"
skopeo copy -q "oci:$layout:$version" "oci-archive:$archive:$version"
rm -rf "$work"
echo "$inputs" >"$stamp"

manifest=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$layout/index.json")
echo "build-image: $layout:$version (linux/arm64, manifest $manifest)," \
  "$(du -sh --apparent-size "$layout" | cut -f1) as a layout;" \
  "$archive ($(du -h --apparent-size "$archive" | cut -f1))" >&2
