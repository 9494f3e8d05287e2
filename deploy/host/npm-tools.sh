#!/usr/bin/env bash
# The npm packages of the offline manifest checks (deploy/host/npm/package.json, exact versions
# and integrity hashes in its package-lock.json), installed OUTSIDE the clone, in
# $VMMD_CACHE_DIR/npm/<hash of the lock file> (default ~/.cache/vmmd/npm/...): a fresh clone on
# the same machine reuses them, a new lock file gets a new folder (older ones are dropped).
# usage: npm-tools.sh dir       print the folder (whether or not it is installed yet)
#        npm-tools.sh install   install it unless done (make deps runs this); needs npm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lock=$here/npm/package-lock.json
cache=${VMMD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmmd}/npm
key=$(cat "$here/npm/package.json" "$lock" | sha256sum | cut -c1-16)
dir=$cache/$key

case "${1:-}" in
  dir) echo "$dir" ;;
  install)
    [ -f "$dir/.installed" ] && exit 0
    command -v npm >/dev/null || { echo "npm-tools: npm is missing (make deps installs it)" >&2; exit 1; }
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    cp "$here/npm/package.json" "$lock" "$tmp/"
    # Exactly the locked versions; no install scripts run.
    (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    touch "$tmp/.installed"
    find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name '.tmp.*' -exec rm -rf {} +
    mv "$tmp" "$dir"
    trap - EXIT
    echo "npm-tools: installed the manifest validators in $dir"
    ;;
  *) echo "usage: npm-tools.sh dir|install" >&2; exit 2 ;;
esac
