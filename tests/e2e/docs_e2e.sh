#!/usr/bin/env bash
# e2e: starts `intercab serve --target=all` on free ports and checks in headless Chromium that
# the gateway's /docs renders Swagger UI with the operations of every service.
# Usage (ctest passes both): tests/e2e/docs_e2e.sh INTERCAB_BINARY OUTPUT_DIR
set -euo pipefail

binary=$1
output_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
home=$(mktemp -d "${TMPDIR:-/tmp}/intercab-docs-e2e.XXXXXX")
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$home"
}
trap cleanup EXIT

env_ports=()
for service in GATEWAY USER BOOKING LOCATION DRIVER PAYMENT NOTIFICATION AI ANALYTICS ADMIN; do
  env_ports+=("${service}_PORT=0")
done
env INTERCAB_HOME="$home" LOG_LEVEL=warn "${env_ports[@]}" "$binary" serve --ports-file "$home/ports.json" \
  >"$home/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do [[ -s "$home/ports.json" ]] && break; sleep 0.1; done
[[ -s "$home/ports.json" ]] || { echo "docs_e2e: intercab did not start:"; cat "$home/serve.log"; exit 1; }
gateway_port=$(sed -E 's/.*"gateway":([0-9]+).*/\1/' "$home/ports.json")

mkdir -p "$output_dir"
# Each of the nine services documents its five operational endpoints, listed once under the
# gateway with its two /docs operations: at least 7 operations must render.
"$here/docs_screenshot.sh" "http://127.0.0.1:$gateway_port" 7 "$output_dir/docs.png"
echo "1 passed, 0 failed"
