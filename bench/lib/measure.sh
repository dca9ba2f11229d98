# shellcheck shell=bash
# bench/lib/measure.sh: the measurements of one path, each appended to $RESULTS as one JSON
# line {"path", "kind", ...}. Sourced by bench/run; expects BIN, WORK, RESULTS, MODEL,
# DURATION and the target's URL, TOKEN, SERVER_LOG and PROCS (see targets.sh).

ERRORS_TOTAL=0
FAILED_RUNS=0

# One request (non-streaming and streaming) to the target; fails with status and body.
probe() {
    local path="$1" status body stream
    for stream in false true; do
        body="$WORK/probe-$path-$stream.out"
        status=$(curl -sS -o "$body" -w '%{http_code}' --max-time 30 "$URL" \
            -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
            -d "{\"model\":\"$MODEL\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in one short sentence.\"}]}") \
            || status="curl failed"
        if [[ "$status" != 200 ]] || { [[ $stream = true ]] && ! grep -q '\[DONE\]' "$body"; } \
            || { [[ $stream = false ]] && ! grep -q '"choices"' "$body"; }; then
            log "$path: probe (stream=$stream) got status $status, body:"
            head -c 2000 "$body" >&2; echo >&2
            return 1
        fi
    done
}

# After a run with failed requests: a request now, and the last warnings in the log.
explain_errors() {
    local path="$1" what="$2" errors="$3"
    ERRORS_TOTAL=$((ERRORS_TOTAL + errors))
    log "$path: $what: $errors failed requests; a request now, and the last warnings in its log:"
    probe "$path" && log "$path: the probe succeeds now"
    grep -aiE 'warn|error|exception|traceback' "$SERVER_LOG" 2>/dev/null | tail -10 >&2 || true
}

# One JSON line, with the 1-minute load average as the measurement ends.
emit() {
    printf '{"path":"%s","kind":"%s","load1":%s,%s}\n' "$1" "$2" "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo null)" "$3" >>"$RESULTS"
}

# load PATH KIND ARGS...: keyroute-load at a fixed rate (ARGS: --rate, --connections, ...).
load() {
    local path="$1" kind="$2" out errors; shift 2
    log "$path: $kind ($*) ..."
    if ! out=$(timeout $((2 * DURATION + 120)) "$BIN/keyroute-load" --url "$URL" --token "$TOKEN" \
        --model "$MODEL" --label "$path" --mode rate --seconds "$DURATION" "$@"); then
        log "$path: $kind: keyroute-load failed or timed out"
        FAILED_RUNS=$((FAILED_RUNS + 1))
        return 0
    fi
    emit "$path" "$kind" "\"result\":$out"
    log "$path: $kind: $(summary "$out")"
    errors=$(json_num "$out" errors)
    [[ "$errors" = 0 ]] || explain_errors "$path" "$kind" "$errors"
    sleep 1
}

json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }
summary() {
    local k s=""
    for k in achieved_rps p50_ms p99_ms p999_ms ttfb_p50_ms dispatch_p99_ms errors; do s+="$k $(json_num "$1" "$k"), "; done
    echo "${s%, }"
}

# Saturation: wrk, 2 threads, 32 connections, after a second of warm-up.
saturate() {
    local path="$1" out rps non2xx socket
    log "$path: saturate (wrk, 32 connections, $DURATION s) ..."
    export KEYROUTE_BENCH_TOKEN="$TOKEN" KEYROUTE_BENCH_MODEL="$MODEL"
    wrk -t2 -c32 -d1s --timeout 10s -s "$ROOT/bench/wrk/chat.lua" "$URL" >/dev/null 2>&1 || true
    if ! out=$(timeout $((DURATION + 60)) wrk -t2 -c32 -d"${DURATION}s" --timeout 10s \
        -s "$ROOT/bench/wrk/chat.lua" "$URL" 2>&1); then
        echo "$out" >&2
        log "$path: saturate: wrk failed or timed out"
        FAILED_RUNS=$((FAILED_RUNS + 1))
        return 0
    fi
    echo "$out" >"$WORK/wrk-$path.out"
    rps=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$out")
    non2xx=$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses:[[:space:]]*\([0-9]*\).*/\1/p' <<<"$out")
    socket=$(sed -n 's/^[[:space:]]*Socket errors:.*connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$out" \
        | awk '{ print $1 + $2 + $3 + $4 }')
    errors=$(( ${non2xx:-0} + ${socket:-0} ))
    emit "$path" saturate "\"rps\":${rps:-null},\"errors\":$errors"
    log "$path: saturate: ${rps:-?} req/s, $errors errors (non-2xx ${non2xx:-0}, socket ${socket:-0})"
    [[ "$errors" = 0 ]] || explain_errors "$path" saturate "$errors"
    sleep 1
}

# The resident memory of each of the path's processes, now.
record_rss() {
    local path="$1" entry fields=""
    for entry in "${PROCS[@]}"; do
        fields+="\"${entry%%=*}\":$(rss_mb "${entry#*=}" || echo null),"
    done
    emit "$path" rss "\"mb\":{${fields%,}}"
    log "$path: resident memory (MB): ${fields%,}"
}

# oha at RATE with CONNECTIONS to the target, as result kind KIND.
oha_run() {
    local path="$1" kind="$2" rate="$3" connections="$4" out
    log "$path: $kind: oha $OHA_VERSION at $rate req/s, $connections connections ..."
    if ! out=$(timeout $((DURATION + 60)) "$OHA" --no-tui --output-format json -z "${DURATION}s" \
        -q "$rate" -c "$connections" -m POST -H 'content-type: application/json' \
        -H "authorization: Bearer $TOKEN" \
        -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in one short sentence.\"}]}" \
        "$URL" 2>"$WORK/oha-$path-$kind.err"); then
        cat "$WORK/oha-$path-$kind.err" >&2
        log "$path: $kind: oha failed"
        FAILED_RUNS=$((FAILED_RUNS + 1))
        return 0
    fi
    emit "$path" "$kind" "\"rate\":$rate,\"connections\":$connections,\"result\":$(tr -d '\n' <<<"$out")"
    sleep 1
}

# The harness check on direct at 200 req/s, 8 connections: oha beside keyroute-load's own
# figures, and both again with the CPUs kept awake (see awake_on), which shows what part of
# the floor is the machine waking up rather than either generator.
harness_check() {
    oha_run direct oha 200 8
    if [[ "$KEEP_AWAKE" = 0 ]]; then
        awake_on
        load direct rate200_awake --rate 200 --connections 8
        oha_run direct oha_awake 200 8
        awake_off
    fi
}

# Everything for one path, in this order: 200 req/s, its stream, a long coding-agent turn
# (~105 KB) at 200 req/s, 2,000 req/s, saturation, then resident memory.
measure() {
    local path="$1"
    probe "$path" || die "$path does not answer as expected"
    load "$path" rate200 --rate 200 --connections 8
    load "$path" stream200 --rate 200 --connections 8 --stream
    load "$path" long200 --rate 200 --connections 8 --body long-turn
    load "$path" rate2000 --rate 2000 --connections 16
    saturate "$path"
    record_rss "$path"
}
