#!/usr/bin/env bash
# Screenshots of the built HTML docs in headless Chromium, to check how they render (code blocks
# not clipped, tables, the benchmarks plot). Not part of CI.
#
#   ./run docs && [HEIGHT=4000] docs/screenshots.sh [WIDTH] [PAGE...]
#
# WIDTH defaults to 1280 (pixels); PAGEs default to the pages with the widest content. The PNGs go
# to build/screenshots/. Installs Debian's chromium with apt-get when run as root and it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTH="${1:-1280}"
HEIGHT="${HEIGHT:-900}"   # HEIGHT=4000 for more of a long page
shift || true
PAGES=("$@")
[ "${#PAGES[@]}" -gt 0 ] || PAGES=(index getting-started benchmarks writing-a-plugin methods/keyring methods/pass)
[ -f build/docs/index.html ] || { echo "build/docs/ is missing: run ./run docs first" >&2; exit 1; }

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing chromium (Debian package) ..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    browser=$(command -v chromium)
  else
    echo "chromium is not installed: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

out=build/screenshots
mkdir -p "$out"
for page in "${PAGES[@]}"; do
  profile=$(mktemp -d)  # a new, empty profile for every shot
  name="${page//\//-}"
  target="$out/${name}-${WIDTH}.png"
  "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars=false --virtual-time-budget=3000 --user-data-dir="$profile" \
    --window-size="$WIDTH,$HEIGHT" --screenshot="$PWD/$target" "file://$PWD/build/docs/$page.html" \
    >/dev/null 2>&1 || echo "screenshot of $page failed" >&2
  rm -rf "$profile"
  [ -f "$target" ] && echo "$target"
done
