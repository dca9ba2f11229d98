# shellcheck shell=bash
# bench/lib/soak.sh: `bench/run --soak SECONDS`: a constant 1,000 req/s (16 connections)
# through keyroute dev and then the production processes, each process's resident memory
# sampled every 10 s, latency reported per minute. Sourced by bench/run.

SOAK_RATE=1000
SOAK_CONNECTIONS=16

# The resident memory of each of the path's processes, as a sample at T seconds.
soak_sample() {
    local path="$1" t="$2" entry fields=""
    for entry in "${PROCS[@]}"; do
        fields+="\"${entry%%=*}\":$(rss_mb "${entry#*=}" || echo null),"
    done
    emit "$path" rss_sample "\"t\":$t,\"mb\":{${fields%,}}"
    log "$path: $t s: resident memory (MB): ${fields%,}"
}

# soak_one PATH SECONDS: the load in the background, memory sampled while it runs.
soak_one() {
    local path="$1" seconds="$2" out pid began line
    out="$WORK/soak-$path.out"
    probe "$path" || die "$path does not answer as expected"
    log "$path: $SOAK_RATE req/s for $seconds s (latency per minute, memory every 10 s) ..."
    "$BIN/keyroute-load" --url "$URL" --token "$TOKEN" --model "$MODEL" --label "$path" \
        --mode rate --rate "$SOAK_RATE" --connections "$SOAK_CONNECTIONS" --seconds "$seconds" \
        --report-every 60 >"$out" &
    pid=$!
    began=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        soak_sample "$path" "$((SECONDS - began))"
        # Ten seconds, cut short when the load ends.
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null && sleep 1; done
    done
    soak_sample "$path" "$((SECONDS - began))"
    wait "$pid" || { FAILED_RUNS=$((FAILED_RUNS + 1)); log "$path: keyroute-load failed"; }
    while IFS= read -r line; do
        if [[ "$line" = *'"interval"'* ]]; then
            emit "$path" minute "\"result\":$line"
        elif [[ -n "$line" ]]; then
            emit "$path" soak "\"result\":$line"
            log "$path: $(summary "$line")"
            [[ "$(json_num "$line" errors)" = 0 ]] || explain_errors "$path" soak "$(json_num "$line" errors)"
        fi
    done <"$out"
}

soak_all() {
    local seconds="$1" paths=(keyroute)
    RESULTS="$ROOT/target/bench-soak.jsonl"
    local table="$ROOT/target/bench-soak.md"
    : >"$RESULTS"
    start_keyroute
    soak_one keyroute "$seconds"
    stop_keyroute
    if [[ "$SKIP_PRODUCTION" = 0 ]]; then
        paths+=(production)
        start_production
        soak_one production "$seconds"
        stop_production
    fi
    python3 "$ROOT/bench/lib/report.py" "$RESULTS" --soak --paths "${paths[*]}" \
        --seconds "$seconds" --cores "$(nproc 2>/dev/null || echo '?')" --load "$LOAD_BEFORE" \
        --load-after "$(loadavg)" --mock "$MOCK_NAME" --errors "$ERRORS_TOTAL" \
        --failed-runs "$FAILED_RUNS" >"$table"
    echo
    cat "$table"
    echo
    log "raw results: ${RESULTS#"$ROOT/"}; table: ${table#"$ROOT/"}; took $((SECONDS - BEGAN)) s"
    [[ "$ERRORS_TOTAL" = 0 && "$FAILED_RUNS" = 0 ]] || { log "$ERRORS_TOTAL failed requests, $FAILED_RUNS failed runs"; exit 2; }
}
