#!/usr/bin/env bash
# iconiq's main job, end to end, on this machine: no API key, no internet.
#
#   bash scripts/demo.sh          # run it, then stop the server it started
#   bash scripts/demo.sh --keep   # leave the server (and its dashboard) running until Ctrl-C
#
# 1. makes .venv (if missing) and installs iconiq with its server extra (plain pip);
# 2. starts iconiq-server on SQLite, on 127.0.0.1 at a free port, in a temp dir;
# 3. runs a handful of `iconiq icon --model local` commands (the offline renderer)
#    in a temp ICONIQ_HOME pointed at that server: some succeed, some fail on bad input;
# 4. flushes the telemetry spool (`iconiq telemetry flush`);
# 5. prints `iconiq-server report` and the dashboard address, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

if [ -t 1 ]; then BOLD=$'\033[1m' DIM=$'\033[2m' OFF=$'\033[0m'; else BOLD='' DIM='' OFF=''; fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
run() {  # echo the command (arguments with spaces in quotes), then run it
  local arg line='$'
  for arg in "$@"; do
    case $arg in *' '*) line+=" \"$arg\"" ;; *) line+=" $arg" ;; esac
  done
  printf '%s%s%s\n' "$DIM" "$line" "$OFF"
  "$@"
}

# -- 1. install ---------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
STAMP=.venv/.iconiq-demo-installed
WANT=$(cat pyproject.toml | cksum)
INSTALLED=0
.venv/bin/python -c "import iconiq.server.app, iconiq.cli.main" 2>/dev/null && INSTALLED=1
# ICONIQ_DEMO_SKIP_INSTALL=1 (the demo's own test) trusts an existing install as it is.
if [ "$INSTALLED" = 0 ] || { [ "${ICONIQ_DEMO_SKIP_INSTALL:-0}" != 1 ] \
   && { [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; }; }; then
  say "installing iconiq[server] into .venv (pip)"
  if ! .venv/bin/python -m pip install -q -e '.[server]' >.venv/demo-install.log 2>&1; then
    cat .venv/demo-install.log; echo "pip install failed (log above)"; exit 1
  fi
  echo "$WANT" > "$STAMP"
fi
BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"

# -- 2. server ------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/iconiq-demo.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    echo "(iconiq-server stopped; files kept in $WORK)"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean environment for the demo: never a real key, never a remote endpoint, no opt-out
# inherited from the caller's shell (the demo shows telemetry working).
unset OPENAI_API_KEY OPENAI_ORG_ID OPENAI_PROJECT_ID DO_NOT_TRACK ICONIQ_TELEMETRY_DISABLED \
      ICONIQ_DATABASE_URL HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY='*'
export ICONIQ_HOME="$WORK/home"
export OPENAI_BASE_URL="http://127.0.0.1:9/v1"   # closed loopback port: nothing leaves
DB_URL="sqlite:///$WORK/server.db"
export ICONIQ_ADMIN_TOKEN
ICONIQ_ADMIN_TOKEN=$("$BIN/python" -c "import secrets; print(secrets.token_urlsafe(18))")

say "starting iconiq-server on SQLite ($WORK/server.db)"
"$BIN/iconiq-server" serve --host 127.0.0.1 --port 0 --database "$DB_URL" \
  --port-file "$WORK/port" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=""
for _ in $(seq 1 300); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "iconiq-server did not start:"; cat "$WORK/server.log"; exit 1
  fi
  if [ -z "$URL" ] && [ -s "$WORK/port" ]; then URL="http://127.0.0.1:$(cat "$WORK/port")"; fi
  if [ -n "$URL" ] && "$BIN/python" - "$URL" <<'EOF' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1).close()
EOF
  sleep 0.1
done
[ -n "$URL" ] || { echo "iconiq-server did not report its port"; cat "$WORK/server.log"; exit 1; }
echo "listening on $URL (pid $SERVER_PID)"
export ICONIQ_TELEMETRY_ENDPOINT="$URL"

# -- 3. commands ------------------------------------------------------------------
OUT="$WORK/icons"
mkdir -p "$OUT"
cd "$WORK"
status=0
say "generating icons offline (--model local)"
# stdin is not a terminal here, so the first-run notice is printed once and nothing is asked.
run iconiq icon --model local --prompt "a rocket ship, flat, orange" --output "$OUT/rocket.png" </dev/null
run iconiq icon --model local --prompt "a paper plane" --format ico --output "$OUT/plane.ico" </dev/null
run iconiq icon --model local --prompt "a coffee cup" --sizes 16,32,64,128,256 --output "$OUT/cup/" </dev/null
run iconiq icon --model local --prompt "a green leaf" --format webp --transparent --output "$OUT/leaf.webp" </dev/null

say "and some that fail (each one line, a documented exit code)"
run iconiq icon --model local --prompt "a fox" --format bmp </dev/null || status=$?
echo "   -> exit $status"; status=0
run iconiq icon --model local --prompt "a rocket ship" --output "$OUT/rocket.png" </dev/null || status=$?
echo "   -> exit $status (file exists, no --force)"; status=0
run iconiq icon --model dall-e-3 --prompt "a fox" --style glossy </dev/null || status=$?
echo "   -> exit $status"; status=0
run iconiq icon --model dall-e-3 --prompt "a fox" </dev/null || status=$?
echo "   -> exit $status (no OpenAI key here; nothing was sent)"; status=0

# -- 4. flush ---------------------------------------------------------------------
say "what was recorded and what is still queued"
run iconiq telemetry status </dev/null || true
say "flushing the spool to the server"
run iconiq telemetry flush </dev/null

# -- 5. report ---------------------------------------------------------------------
say "iconiq-server report"
run iconiq-server report --database "$DB_URL"

say "dashboard"
echo "  $URL/   (admin token: $ICONIQ_ADMIN_TOKEN)"
echo "  icons written to $OUT"
if [ "$KEEP" = 1 ]; then
  echo "  server left running; press Ctrl-C to stop it"
  wait "$SERVER_PID" || true
fi
