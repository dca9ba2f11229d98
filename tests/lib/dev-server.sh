# Starting and stopping `keyroute dev --mock` from a bash suite (sourced, not run).
#
#   source tests/lib/dev-server.sh
#   dev_server_binary                # sets KEYROUTE: $KEYROUTE_BIN, or target/debug/keyroute via cargo
#   dev_server_start "$workdir"      # sets DEV_URL and DEV_TOKEN, DEV_LOG (its stderr)
#   dev_server_stop                  # SIGTERM, then waits; returns its exit status
#
# The gateway listens on a free loopback port with a fresh state directory under $workdir.
# Its URL and token are read from the banner it prints on stdout (KEYROUTE_URL=...,
# KEYROUTE_TOKEN=...), as tests/sdk/conftest.py reads them.

DEV_SERVER_READY_TIMEOUT_S=${DEV_SERVER_READY_TIMEOUT_S:-60}

# The keyroute binary to test: $KEYROUTE_BIN, or target/debug/keyroute brought up to date by
# cargo (a no-op when it is), so a suite never tests a stale binary.
dev_server_binary() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ -n "${KEYROUTE_BIN:-}" ]; then
    [ -x "$KEYROUTE_BIN" ] || { echo "KEYROUTE_BIN=$KEYROUTE_BIN is not an executable" >&2; return 2; }
    KEYROUTE=$KEYROUTE_BIN
  else
    (cd "$root" && cargo build --locked --quiet --bin keyroute) || return 2
    KEYROUTE="$root/target/debug/keyroute"
  fi
}

# Starts the gateway and waits (up to DEV_SERVER_READY_TIMEOUT_S) for its banner.
dev_server_start() {
  local dir=$1 fifo line key value deadline remaining status
  mkdir -p "$dir"
  fifo="$dir/stdout.fifo"
  rm -f "$fifo"
  mkfifo "$fifo"
  DEV_LOG="$dir/keyroute-dev.stderr"
  # The gateway reads nothing of the caller's KEYROUTE_* settings.
  local unset_args=()
  for key in $(compgen -e | grep '^KEYROUTE_' || true); do unset_args+=(-u "$key"); done
  (cd "$dir" && exec env ${unset_args[@]+"${unset_args[@]}"} "$KEYROUTE" dev --mock \
    --http-addr 127.0.0.1:0 --state-dir "$dir/state" </dev/null >"$fifo" 2>"$DEV_LOG") &
  DEV_PID=$!
  exec {DEV_FD}<"$fifo"
  DEV_URL= DEV_TOKEN=
  deadline=$((SECONDS + DEV_SERVER_READY_TIMEOUT_S))
  while [ -z "$DEV_URL" ] || [ -z "$DEV_TOKEN" ]; do
    remaining=$((deadline - SECONDS))
    if [ "$remaining" -le 0 ]; then
      echo "keyroute dev printed no KEYROUTE_URL within ${DEV_SERVER_READY_TIMEOUT_S} s; its log:" >&2
      tail -n 40 "$DEV_LOG" >&2
      dev_server_stop || true
      return 1
    fi
    status=0
    IFS= read -r -t "$remaining" -u "$DEV_FD" line || status=$?
    [ "$status" -gt 128 ] && continue # timed out: the deadline check above reports it
    if [ "$status" -ne 0 ] && [ -z "$line" ]; then
      echo "keyroute dev exited before it was ready; its log:" >&2
      tail -n 40 "$DEV_LOG" >&2
      dev_server_stop || true
      return 1
    fi
    key=${line%%=*} value=${line#*=}
    case "$key" in
      KEYROUTE_URL) DEV_URL=${value%/} ;;
      KEYROUTE_TOKEN) DEV_TOKEN=$value ;;
    esac
  done
  # Keep draining stdout so the gateway never blocks on a full pipe.
  cat <&"$DEV_FD" >"$dir/keyroute-dev.stdout" &
  DEV_DRAIN_PID=$!
  exec {DEV_FD}<&-
  DEV_FD=
  rm -f "$fifo"
}

# Stops the gateway gracefully (SIGTERM; SIGKILL after 20 s) and returns its exit status.
dev_server_stop() {
  local status=0
  [ -n "${DEV_PID:-}" ] || return 0
  if kill -0 "$DEV_PID" 2>/dev/null; then
    kill -TERM "$DEV_PID" 2>/dev/null || true
    timeout 20 tail --pid="$DEV_PID" -f /dev/null 2>/dev/null || kill -KILL "$DEV_PID" 2>/dev/null || true
  fi
  wait "$DEV_PID" 2>/dev/null || status=$?
  [ -n "${DEV_DRAIN_PID:-}" ] && wait "$DEV_DRAIN_PID" 2>/dev/null || true
  if [ -n "${DEV_FD:-}" ]; then exec {DEV_FD}<&-; fi
  DEV_PID= DEV_DRAIN_PID= DEV_FD=
  return "$status"
}
