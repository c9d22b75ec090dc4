#!/usr/bin/env bash
# Renders a running gateway's /docs in headless Chromium: checks that Swagger UI lists the operations, saves a PNG.
# Usage: tests/e2e/docs_screenshot.sh BASE_URL [MIN_OPERATIONS=5] [SCREENSHOT=docs_screenshot.png]
#   e.g. tests/e2e/docs_screenshot.sh http://127.0.0.1:8000 20 build/docs.png
set -euo pipefail

if (($# < 1 || $# > 3)); then
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
base_url=${1%/}
min_operations=${2:-5}
screenshot=${3:-docs_screenshot.png}
[[ "$min_operations" =~ ^[0-9]+$ ]] || { echo "docs_screenshot: MIN_OPERATIONS must be a number, not '$min_operations'" >&2; exit 2; }

chromium_bin=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$chromium_bin" || ! -x "$chromium_bin" ]]; then
  echo "docs_screenshot: chromium not found: install Debian package chromium" \
       "(apt-get install -y --no-install-recommends chromium), or set CHROMIUM=/path/to/it" >&2
  exit 3
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/docs_screenshot.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT

# The flags known to work here (shared/DEPENDENCIES.md), a fresh profile per run so that no cache or service worker
# from an earlier run hides a broken page, and virtual time so that the page's scripts finish before the dump.
run_chromium() {
  local profile
  profile=$(mktemp -d "$work_dir/profile.XXXXXX")
  timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=10000 "$@" 2>>"$work_dir/chromium.log"
}

fail() {
  echo "docs_screenshot: $*" >&2
  # Without a session bus Chromium logs D-Bus errors on every run, and Debian's wrapper script trips over its memory
  # test in some containers; neither says anything about the page.
  local chromium_errors
  chromium_errors=$(grep -v -e 'ERROR:dbus/' -e '\[: [0-9]*: unexpected operator' "$work_dir/chromium.log" 2>/dev/null |
    tail -n 15 || true)
  if [[ -n "$chromium_errors" ]]; then
    echo "--- chromium said:" >&2
    echo "$chromium_errors" >&2
  fi
  exit 1
}

page_url="$base_url/docs/"
run_chromium --dump-dom "$page_url" >"$work_dir/dom.html" || fail "chromium could not load $page_url (exit $?)"

# Swagger UI renders one <div class="opblock opblock-get" id="operations-<tag>-<operationId>"> per operation and tag.
operations=$({ grep -o 'class="opblock opblock-[a-z]*' "$work_dir/dom.html" || true; } | wc -l)
if ((operations < min_operations)); then
  if grep -q 'Failed to load API definition' "$work_dir/dom.html"; then
    fail "Swagger UI rendered, but could not load $base_url/docs/openapi.json (see it with curl)"
  elif ! grep -q 'class="swagger-ui' "$work_dir/dom.html"; then
    fail "$page_url did not render Swagger UI: is the gateway running there, and are /docs/swagger-ui-bundle.js" \
         "and /docs/swagger-ui.css served? ($(wc -c <"$work_dir/dom.html") bytes of DOM)"
  else
    fail "$page_url rendered $operations operation blocks, expected at least $min_operations"
  fi
fi

mkdir -p "$(dirname "$screenshot")"
rm -f "$screenshot"
run_chromium --screenshot="$screenshot" --window-size=1280,2000 --hide-scrollbars "$page_url" >/dev/null ||
  fail "chromium could not take the screenshot of $page_url"
[[ "$(head -c 8 "$screenshot" 2>/dev/null | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]] ||
  fail "chromium wrote no PNG at $screenshot"

echo "docs_screenshot: $page_url shows $operations operation blocks (at least $min_operations wanted);" \
     "screenshot in $screenshot"
