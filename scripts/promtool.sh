#!/usr/bin/env bash
# Print the path of a promtool (Prometheus's rule and configuration checker) for the tests:
# the one on PATH, else Debian's, taken out of the prometheus package without installing it
# (no Prometheus service starts on this machine) and kept under the project's cache folder.
#
# usage: scripts/promtool.sh      (prints the path; fails with a message when none can be had)
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/zoe-prefect/promtool
if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool is missing: install it (it comes with Prometheus) or put it on PATH" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
download() { (cd "$work" && apt-get download -qq prometheus) 2>/dev/null; }
if ! download; then
  # A machine whose package lists were never fetched (needs root).
  apt-get update -qq >/dev/null
  download
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$cache"
install -m 0755 "$work/root/usr/bin/promtool" "$cache/promtool.new"
mv "$cache/promtool.new" "$cache/promtool"
echo "$cache/promtool"
