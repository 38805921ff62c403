#!/usr/bin/env bash
# The README's first commands on a fresh clone, as a new user types them (issue #16):
#   npm ci (no warning may be printed), npx tasklane --help, npm start, the "try" line, Ctrl+C.
# Usage: scripts/fresh-clone.sh [repo, default: this checkout's HEAD]. Needs the npm registry (or
# its cache) and a C toolchain for better-sqlite3. Not part of `npm test`: it installs everything.
set -euo pipefail
repo="${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}"
dir="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill -- "-$server" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "fresh-clone: $*" >&2; exit 1; }

git clone -q "$repo" "$dir/tasklane"
cd "$dir/tasklane"
start=$(date +%s)
npm ci --no-audit --no-fund > "$dir/ci.log" 2>&1 || { cat "$dir/ci.log"; fail "npm ci failed"; }
if grep -Ei '^npm (warn|error)|EBADENGINE' "$dir/ci.log"; then fail "npm ci printed warnings (above)"; fi
echo "npm ci: $(( $(date +%s) - start )) s, no warning"
[ ! -e node_modules/@portkey-ai/gateway ] || fail "the Portkey gateway was installed by the root npm ci"

npx tasklane --help | grep -q '^Exit codes:' || fail "npx tasklane --help did not print the CLI help"
npx tasklane -- --version > /dev/null || fail "npx tasklane -- --version failed"

# Job control: the server gets a process group of its own, so that Ctrl+C can go to all of it
# (npm, its shell and node) as a terminal sends it.
set -m
npm start --silent -- --port 0 > "$dir/out.txt" 2> "$dir/err.txt" &
server=$!
set +m
for _ in $(seq 150); do [ -s "$dir/out.txt" ] && break; sleep 0.2; done
first="$(head -1 "$dir/out.txt")"
[[ "$first" =~ ^listening\ (http://127\.0\.0\.1:[0-9]+)$ ]] || fail "first stdout line: '$first'; stderr: $(cat "$dir/err.txt")"
url="${BASH_REMATCH[1]}"
[ "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$url/")" = "302 $url/dashboard" ] || fail "/ does not redirect to /dashboard"
for _ in $(seq 50); do grep -q '"ready' "$dir/err.txt" && break; sleep 0.1; done
grep -q "tasklane jobs submit demo.progress --input '{}' --watch" "$dir/err.txt" || fail "no ready line with the command to try"

result="$(npx tasklane jobs submit demo.progress --input '{}' --watch --url "$url" 2> "$dir/watch.txt")"
[ "$result" = '{"steps":5}' ] || [[ "$result" =~ ^\{\"steps\":[0-9]+\}$ ]] || fail "jobs submit --watch printed '$result'; stderr: $(cat "$dir/watch.txt")"
tail -1 "$dir/watch.txt" | grep -Eq '^✓ job .* succeeded in [0-9.]+s$' || fail "no final line: $(cat "$dir/watch.txt")"

kill -INT -- "-$server"; wait "$server" || true
server=""
grep -q '"closing"' "$dir/err.txt" || fail "the server did not close on Ctrl+C: $(tail -3 "$dir/err.txt")"
! grep -q '"level":50' "$dir/err.txt" || fail "errors were logged: $(grep '"level":50' "$dir/err.txt")"
! curl -s -o /dev/null "$url/healthz" || fail "still serving after Ctrl+C"
echo "fresh clone OK: $url served, demo.progress ran, $(( $(date +%s) - start )) s in all"
