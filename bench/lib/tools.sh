# shellcheck shell=bash
# bench/lib/tools.sh: the programs the benchmark drives, installed when missing.
# Sourced by bench/run; expects ROOT, WORK and the version pins below to be set.

# oha, for the harness check (the same rate measured by an established generator).
OHA_VERSION="${KEYROUTE_BENCH_OHA_VERSION:-1.16.0}"
OHA="$ROOT/target/bench-tools/bin/oha"

# A Debian package's program ($1, found on PATH or in /usr/sbin), installed from package
# $2 (then $3, ...) with apt-get when running as root; otherwise says how and fails.
need_debian() {
    local program="$1" package; shift
    command -v "$program" >/dev/null || [[ -x "/usr/sbin/$program" ]] && return 0
    if [[ "$(id -u)" != 0 ]]; then
        die "$program is missing: install it with \`sudo apt-get install -y $1\` (Debian/Ubuntu) and run again"
    fi
    for package in "$@"; do
        log "installing $package (apt-get)"
        if apt-get install -y -q "$package" >"$WORK/apt-$package.log" 2>&1 \
            || { apt-get update -q >>"$WORK/apt-$package.log" 2>&1 \
                 && apt-get install -y -q "$package" >>"$WORK/apt-$package.log" 2>&1; }; then
            command -v "$program" >/dev/null || [[ -x "/usr/sbin/$program" ]] && return 0
        fi
    done
    tail -5 "$WORK/apt-$package.log" >&2
    die "could not install $program (tried: $*)"
}

nginx_bin() { command -v nginx 2>/dev/null || echo /usr/sbin/nginx; }

oha_version() { "$OHA" --version 2>/dev/null | awk '{ print $2 }'; }

# oha $OHA_VERSION into target/bench-tools, built from crates.io with its own lock file.
need_oha() {
    [[ "$(oha_version)" = "$OHA_VERSION" ]] && return 0
    log "installing oha $OHA_VERSION into target/bench-tools (cargo install --locked; once, a few minutes)"
    cargo install oha --version "$OHA_VERSION" --locked --root "$ROOT/target/bench-tools" \
        >"$WORK/oha-install.log" 2>&1 \
        || { tail -20 "$WORK/oha-install.log" >&2; die "cargo install oha $OHA_VERSION failed"; }
    [[ "$(oha_version)" = "$OHA_VERSION" ]] || die "oha $OHA_VERSION is not in target/bench-tools"
}

litellm_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true
}

# litellm[proxy]==$LITELLM_VERSION in the virtualenv $VENV.
need_litellm() {
    if [[ "$(litellm_version)" != "$LITELLM_VERSION" || ! -x "$VENV/bin/litellm" ]]; then
        log "installing litellm[proxy]==$LITELLM_VERSION into $VENV (large; once)"
        [[ -x "$VENV/bin/python" ]] || "${PYTHON:-python3}" -m venv "$VENV" \
            || die "cannot make a virtualenv with ${PYTHON:-python3} (needs Python >= 3.10 with venv)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "litellm[proxy]==$LITELLM_VERSION" >"$WORK/pip.log" 2>&1 \
            || { tail -20 "$WORK/pip.log" >&2; die "pip install litellm[proxy]==$LITELLM_VERSION failed"; }
    fi
    [[ "$(litellm_version)" = "$LITELLM_VERSION" ]] || die "litellm $LITELLM_VERSION is not in $VENV"
}
