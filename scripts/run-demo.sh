#!/usr/bin/env bash
# `make run`: the app on a small demo convoy, with its own local relay.
#
# First run: starts a relay (embedded SQLite) on 127.0.0.1:$QAFILA_DEMO_PORT,
# creates the demo convoy (a lead device and this app's device, three dozen
# families in one village with signed cards, stock loaded) and opens the app
# on it. Later runs reuse the same relay database and devices. Everything
# lives in $QAFILA_DEMO_DIR (default .qafila-demo); delete it to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

demo_dir="${QAFILA_DEMO_DIR:-.qafila-demo}"
port="${QAFILA_DEMO_PORT:-8765}"
qafila=./target/debug/qafila
mkdir -p "$demo_dir"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found. To run Qafila on a machine without one, use a virtual display:"
  echo "  xvfb-run -a make run"
  exit 1
fi

"$qafila" relay serve --listen "127.0.0.1:$port" --db "$demo_dir/relay.db" >"$demo_dir/relay.out" 2>"$demo_dir/relay.log" &
relay_pid=$!
trap 'kill "$relay_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  grep -q "listening on" "$demo_dir/relay.out" 2>/dev/null && break
  if ! kill -0 "$relay_pid" 2>/dev/null; then
    echo "The demo relay could not start (is port $port taken? set QAFILA_DEMO_PORT):" >&2
    cat "$demo_dir/relay.log" >&2
    exit 1
  fi
  sleep 0.1
done

# The demo devices' data is encrypted like any device's; the app asks for this
# passphrase when it opens (set QAFILA_PASSPHRASE to choose another).
export QAFILA_PASSPHRASE="${QAFILA_PASSPHRASE:-قافلة الخير}"
"$qafila" --data-dir "$demo_dir/app" demo --relay "http://127.0.0.1:$port" --lead-dir "$demo_dir/lead"
echo
echo "Sync from a terminal meanwhile: $qafila --data-dir $demo_dir/app sync"
echo "Cards to print: $demo_dir/app/demo-cards.html"
echo "The app asks for this device's passphrase: $QAFILA_PASSPHRASE"
QAFILA_DATA_DIR="$demo_dir/app" ./target/debug/qafila-desktop
