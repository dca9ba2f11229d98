# shellcheck shell=bash
# bench/lib/common.sh: logging, processes and their cleanup, ports, resident memory.
# Sourced by bench/run; expects ROOT and WORK to be set.

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

PIDS=()
OK=0

# Starts "$@" in its own session (so its whole process group can be stopped), output to
# the file $1; sets STARTED to its pid (the program's own: setsid execs it in place).
start() {
    local out="$1"; shift
    if command -v setsid >/dev/null; then
        setsid "$@" >"$out" 2>&1 </dev/null &
    else
        "$@" >"$out" 2>&1 </dev/null &
    fi
    STARTED=$!
    PIDS+=("$STARTED")
}

# SIGTERM to the process group, up to 15 s of grace, then SIGKILL.
stop() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop in 15 s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    if [[ "$OK" = 1 ]]; then
        rm -rf "$WORK"
    else
        log "logs kept in $WORK"
    fi
    exit "$status"
}

# Waits up to $2 seconds for the command "${@:3}" to succeed while pid $1 lives.
wait_for() {
    local pid="$1" seconds="$2" i; shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

# A TCP port on 127.0.0.1 nothing listens on now (and none handed out before in this run).
GIVEN_PORTS=" "
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 30000))
        [[ "$GIVEN_PORTS" = *" $port "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            GIVEN_PORTS+="$port "
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# Resident memory in MB (VmRSS) of pid $1 and every process in its session (LiteLLM may
# fork workers); empty if it is gone.
rss_mb() {
    local pid="$1" total=0 p kb members="$1"
    [[ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]] && members=$(ps -o pid= --sid "$pid")
    for p in $members; do
        kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null)
        [[ -n "$kb" ]] && total=$((total + kb))
    done
    [[ "$total" -gt 0 ]] && awk -v kb="$total" 'BEGIN { printf "%.1f\n", kb / 1024 }'
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'; }

# Keeps every CPU awake with a spinning process at the lowest priority (nice 19: about 1.5%
# of a CPU against one ordinary process; measured here, SCHED_IDLE spinners gave worse tails
# than these). On a virtual machine a
# halted virtual CPU takes tens of microseconds to wake (an exit to the hypervisor), and a
# request that crosses threads pays it at each hop: at 200 req/s that wake-up, not the
# software, is most of a loopback round trip. With the CPUs awake the figures show the
# software's cost; without, the machine's as it is.
AWAKE_PIDS=()
awake_on() {
    local i
    for ((i = 0; i < $(nproc 2>/dev/null || echo 1); i++)); do
        start /dev/null nice -n 19 bash -c 'while :; do :; done'
        AWAKE_PIDS+=("$STARTED")
    done
}
awake_off() {
    local pid
    for pid in "${AWAKE_PIDS[@]}"; do stop "$pid"; done
    AWAKE_PIDS=()
}
