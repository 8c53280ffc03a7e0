#!/usr/bin/env bash
# Print the path of a promtool (Prometheus's rule and configuration checker) or an amtool
# (Alertmanager's) for the tests: the one on PATH, else Debian's, taken out of its package
# without installing it (no service starts on this machine) and kept under the project's cache
# folder.
#
# usage: scripts/promtool.sh [promtool|amtool]   (prints the path; fails with a message when
#                                                 none can be had)
set -euo pipefail

tool=${1:-promtool}
case $tool in
  promtool) package=prometheus ;;
  amtool) package=prometheus-alertmanager ;;
  *) echo "usage: $0 [promtool|amtool]" >&2; exit 2 ;;
esac
if command -v "$tool" >/dev/null 2>&1; then
  command -v "$tool"
  exit 0
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/zoe-prefect/$tool
if [ -x "$cache/$tool" ]; then
  echo "$cache/$tool"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$tool is missing: install it (it comes with $package) or put it on PATH" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
download() { (cd "$work" && apt-get download -qq "$package") 2>/dev/null; }
if ! download; then
  # A machine whose package lists were never fetched (needs root).
  apt-get update -qq >/dev/null
  download
fi
dpkg-deb -x "$work/${package}"_*.deb "$work/root"
mkdir -p "$cache"
install -m 0755 "$work/root/usr/bin/$tool" "$cache/$tool.new"
mv "$cache/$tool.new" "$cache/$tool"
echo "$cache/$tool"
