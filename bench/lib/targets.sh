# shellcheck shell=bash
# bench/lib/targets.sh: the mock upstream and the gateways, started and made ready.
# Sourced by bench/run; expects ROOT, WORK, BIN, MOCK, MOCK_KEY and MODEL to be set.
# Each start_* sets the URL to load (…/v1/chat/completions), the bearer token, the log to
# search on failure and the pids whose resident memory is reported (PROCS: name=pid ...).

# The mock: nginx with bench/nginx/mock.conf.in (default) or keyroute-mock (--mock keyroute).
# Sets UPSTREAM (the OpenAI base URL gateways are given) and MOCK_PID.
start_mock() {
    if [[ "$MOCK" = nginx ]]; then
        local dir="$WORK/nginx" port user=""
        port=$(free_port)
        mkdir -p "$dir/empty"
        # As root, nginx would switch its worker to `nobody`, who cannot enter $WORK.
        [[ "$(id -u)" = 0 ]] && user="user root root;"
        sed -e "s|@DIR@|$dir|g; s|@PORT@|$port|g; s|@USER@|$user|" \
            "$ROOT/bench/nginx/mock.conf.in" >"$dir/mock.conf"
        "$(nginx_bin)" -p "$dir" -c mock.conf -e stderr -t >"$WORK/nginx-test.log" 2>&1 \
            || { cat "$WORK/nginx-test.log" >&2; die "nginx refuses the mock's configuration"; }
        start "$WORK/mock.log" "$(nginx_bin)" -p "$dir" -c mock.conf -e stderr
        MOCK_PID=$STARTED
        UPSTREAM="http://127.0.0.1:$port/v1"
        wait_for "$MOCK_PID" 30 curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" \
            || { cat "$WORK/mock.log" >&2; die "nginx did not start"; }
        MOCK_VERSION=$("$(nginx_bin)" -v 2>&1 | sed 's|.*nginx/||')
        MOCK_NAME="nginx $MOCK_VERSION (fixed answers)"
    else
        start "$WORK/mock.log" "$BIN/keyroute-mock" --listen 127.0.0.1:0 --key "openai=$MOCK_KEY"
        MOCK_PID=$STARTED
        mock_addr() { sed -n 's|^keyroute-mock listening on http://||p' "$WORK/mock.log" | head -1; }
        mock_listening() { [[ -n "$(mock_addr)" ]]; }
        wait_for "$MOCK_PID" 30 mock_listening \
            || { cat "$WORK/mock.log" >&2; die "keyroute-mock did not start"; }
        UPSTREAM="http://$(mock_addr)/openai/v1"
        MOCK_NAME="keyroute-mock"
    fi
    log "mock upstream ($MOCK_NAME): $UPSTREAM"
}

start_direct() {
    URL="$UPSTREAM/chat/completions" TOKEN="$MOCK_KEY" SERVER_LOG="$WORK/mock.log"
    PROCS=("mock=$MOCK_PID")
}

# Adds the mock's key as a BYOK key through the edge's API ($1: base URL, $2: token).
add_key() {
    local status
    status=$(curl -sS -o "$WORK/add-key.out" -w '%{http_code}' --max-time 30 "$1/api/v1/keys" \
        -H "authorization: Bearer $2" -H 'content-type: application/json' \
        -d "{\"provider\":\"openai\",\"secret\":\"$MOCK_KEY\"}") || status="curl failed"
    [[ "$status" = 200 || "$status" = 201 ]] \
        || { cat "$WORK/add-key.out" >&2; die "POST /api/v1/keys answered $status"; }
}

# `keyroute dev`: edge, router and vault in one process; a BYOK key.
# DEV_WRAP (an array, empty by default) goes before the binary, as the production ones'.
declare -ga DEV_WRAP
start_keyroute() {
    start "$WORK/keyroute.log" "${DEV_WRAP[@]}" "$BIN/keyroute" dev --upstream "openai=$UPSTREAM" \
        --http-addr 127.0.0.1:0 --state-dir "$WORK/keyroute-state"
    KEYROUTE_PID=$STARTED
    wait_for "$KEYROUTE_PID" 60 grep -qs '^keyroute dev is running' "$WORK/keyroute.log" \
        || { tail -30 "$WORK/keyroute.log" >&2; die "keyroute dev did not start"; }
    local env="$WORK/keyroute-state/dev.env" base
    base=$(sed -n 's/^KEYROUTE_URL=//p' "$env")
    TOKEN=$(sed -n 's/^KEYROUTE_TOKEN=//p' "$env")
    [[ -n "$base" && -n "$TOKEN" ]] || die "no KEYROUTE_URL/KEYROUTE_TOKEN in $env"
    add_key "$base" "$TOKEN"
    URL="$base/v1/chat/completions" SERVER_LOG="$WORK/keyroute.log"
    PROCS=("keyroute=$KEYROUTE_PID")
    log "keyroute dev: $base"
}

stop_keyroute() { stop "$KEYROUTE_PID"; }

# The production processes, as deploy/k8s runs them (JSON logs, metrics served, mutual TLS
# with certificates from `keyroute certs dev`), each on its own loopback port: the vault,
# one router and the edge. A user with a gateway token and the mock's key, made with
# `keyroute admin`. VAULT_WRAP, ROUTER_WRAP and EDGE_WRAP (arrays, empty by default) go
# before each binary: bench/instructions runs one under callgrind that way.
declare -ga VAULT_WRAP ROUTER_WRAP EDGE_WRAP
start_production() {
    local dir="$WORK/production" vault router edge
    mkdir -p "$dir"
    "$BIN/keyroute" certs dev --out "$dir/certs" >"$dir/certs.log" 2>&1 \
        || { cat "$dir/certs.log" >&2; die "keyroute certs dev failed"; }
    "$BIN/keyroute" kek generate --out "$dir/kek.json" >"$dir/kek.log" 2>&1 \
        || { cat "$dir/kek.log" >&2; die "keyroute kek generate failed"; }
    vault="127.0.0.1:$(free_port)" router="127.0.0.1:$(free_port)" edge="127.0.0.1:$(free_port)"
    # --own-cpus: the edge on CPU 0, router and vault on the others (see bench/run).
    local edge_cpus=() others_cpus=()
    if [[ "${OWN_CPUS:-0}" = 1 ]]; then
        edge_cpus=(taskset -c 0) others_cpus=(taskset -c "1-$(($(nproc) - 1))")
        log "production: edge on CPU 0, router and vault on CPUs 1-$(($(nproc) - 1))"
    fi
    tls() { echo "--tls-cert=$dir/certs/$1.crt" "--tls-key=$dir/certs/$1.key" "--tls-ca=$dir/certs/ca.crt"; }
    # shellcheck disable=SC2046 # tls's words are meant to split
    start "$WORK/vault.log" "${others_cpus[@]}" env KEYROUTE_LOG_FORMAT=json RUST_LOG=info "${VAULT_WRAP[@]}" "$BIN/keyroute-vault" \
        --listen="$vault" --metrics-listen="127.0.0.1:$(free_port)" --db="$dir/vault.sqlite" \
        --kek-file="$dir/kek.json" $(tls vault) --lease-ttl=5m --shutdown-grace=10s
    VAULT_PID=$STARTED
    # shellcheck disable=SC2046
    start "$WORK/router.log" "${others_cpus[@]}" env KEYROUTE_LOG_FORMAT=json RUST_LOG=info "${ROUTER_WRAP[@]}" "$BIN/keyroute-router" \
        --listen="$router" --metrics-listen="127.0.0.1:$(free_port)" --vault="$vault" \
        $(tls router) --base-url="openai=$UPSTREAM" --shutdown-grace=30s
    ROUTER_PID=$STARTED
    # shellcheck disable=SC2046
    start "$WORK/edge.log" "${edge_cpus[@]}" env KEYROUTE_LOG_FORMAT=json RUST_LOG=info "${EDGE_WRAP[@]}" "$BIN/keyroute-edge" \
        --listen="$edge" --router="$router" --router-refresh=5s --vault="$vault" \
        $(tls edge) --body-limit=33554432 --request-timeout=10m
    EDGE_PID=$STARTED
    PROCS=("vault=$VAULT_PID" "router=$ROUTER_PID" "edge=$EDGE_PID")
    edge_ready() {
        local pid
        for pid in "$VAULT_PID" "$ROUTER_PID"; do kill -0 "$pid" 2>/dev/null || return 1; done
        # 200 once the vault and at least one router answer their health checks.
        curl -sf -o /dev/null --max-time 2 "http://$edge/readyz" 2>/dev/null
    }
    wait_for "$EDGE_PID" 60 edge_ready || {
        for name in vault router edge; do log "$name log:"; tail -10 "$WORK/$name.log" >&2; done
        die "the production processes did not become ready"
    }
    local admin=("$BIN/keyroute" admin --vault "$vault" --certs-dir "$dir/certs" -o json) user
    field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>>"$dir/admin.log"; }
    user=$("${admin[@]}" users create --name bench 2>"$dir/admin.log" | field id)
    [[ -n "$user" ]] || { cat "$dir/admin.log" >&2; die "keyroute admin users create failed"; }
    TOKEN=$("${admin[@]}" tokens issue --principal "$user" 2>>"$dir/admin.log" | field token)
    [[ -n "$TOKEN" ]] || { cat "$dir/admin.log" >&2; die "keyroute admin tokens issue failed"; }
    printf '%s' "$MOCK_KEY" | "${admin[@]}" keys add --owner "$user" --provider openai \
        --secret-file - >/dev/null 2>>"$dir/admin.log" \
        || { cat "$dir/admin.log" >&2; die "keyroute admin keys add failed"; }
    URL="http://$edge/v1/chat/completions" SERVER_LOG="$WORK/edge.log"
    log "production: vault $vault, router $router, edge http://$edge"
}

stop_production() { stop "$EDGE_PID"; stop "$ROUTER_PID"; stop "$VAULT_PID"; }

# LiteLLM's proxy (pinned, one worker, no database), in front of the same mock.
start_litellm() {
    local port
    mkdir -p "$WORK/litellm"
    cat >"$WORK/litellm/config.yaml" <<EOF
model_list:
  - model_name: $MODEL
    litellm_params:
      model: openai/$MODEL
      api_base: $UPSTREAM
      api_key: $MOCK_KEY
litellm_settings:
  telemetry: False
general_settings:
  # No master key and no database, as asked; LiteLLM refuses to start without a master
  # key unless told this.
  dangerously_permit_weak_or_unset_master_key: true
EOF
    port=$(free_port)
    # Run from its own directory (it loads a .env from the working directory), with every
    # remote fetch it knows of (model cost map, beta headers, blog posts, policy templates,
    # autorouter presets) answered from its bundled copies.
    start "$WORK/litellm.log" bash -c 'cd "$0" && exec "$@"' "$WORK/litellm" env \
        LITELLM_TELEMETRY=False LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True LITELLM_LOCAL_BLOG_POSTS=True \
        LITELLM_LOCAL_POLICY_TEMPLATES=True LITELLM_LOCAL_AUTOROUTER_PRESETS=True \
        LITELLM_DONT_SHOW_FEEDBACK_BOX=True DISABLE_ADMIN_UI=True \
        "$VENV/bin/litellm" --config "$WORK/litellm/config.yaml" --host 127.0.0.1 \
        --port "$port" --num_workers 1
    LITELLM_PID=$STARTED
    wait_for "$LITELLM_PID" 120 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/health/liveliness" \
        || { tail -30 "$WORK/litellm.log" >&2; die "LiteLLM did not answer on port $port"; }
    URL="http://127.0.0.1:$port/v1/chat/completions" TOKEN="none" SERVER_LOG="$WORK/litellm.log"
    PROCS=("litellm=$LITELLM_PID")
    log "litellm $LITELLM_VERSION: http://127.0.0.1:$port"
}

stop_litellm() {
    if grep -aqiE 'ConnectError|Name or service not known|Temporary failure in name resolution' "$WORK/litellm.log"; then
        log "note: LiteLLM tried to reach the network during the run:"
        grep -aiE 'ConnectError|Name or service not known|Temporary failure in name resolution' "$WORK/litellm.log" | head -5 >&2
    fi
    stop "$LITELLM_PID"
}
