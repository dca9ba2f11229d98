# shellcheck shell=bash disable=SC2034 # sets variables for the scripts that source it
# The pinned tools behind the client packages, installed when missing (sourced, not run, by
# clients/generate and tests/grpc-clients/run; ROOT must be the repository root).
#
#   clients_buf          sets BUF: buf $CLIENTS_BUF_VERSION from npm in .ci/tools (as .ci/run)
#   clients_venv         sets CLIENTS_PYTHON: a virtualenv (target/grpc-clients-venv) with
#                        clients/python/requirements-dev.txt, remade when that file changes
#   clients_go_plugins   Debian's protoc-gen-go and protoc-gen-go-grpc, at the versions the
#                        committed Go code was generated with
#   clients_go_env       Debian's Go and the Go sources of grpc-go 1.33.3, protobuf 1.28.1 and
#                        golang/protobuf 1.5.2; sets GO_ENV, the environment that builds
#                        clients/go offline (GOPATH mode: no module proxy is reached, nothing
#                        is downloaded)
#
# Debian packages are installed with apt-get when missing (as root, or through sudo).

CLIENTS_BUF_VERSION=1.75.0
# The Go plugins' versions in Debian 12 (bookworm): protoc-gen-go 1.28.1-3, protoc-gen-go-grpc
# 1.33.3-2 (grpc-go's cmd/protoc-gen-go-grpc, which calls itself 1.0).
CLIENTS_PROTOC_GEN_GO_VERSION="protoc-gen-go v1.28.1"
CLIENTS_PROTOC_GEN_GO_GRPC_VERSION="protoc-gen-go-grpc 1.0"

clients_log() { echo "clients: $*" >&2; }

# Installs the Debian packages given that are not installed yet.
clients_apt() {
  local missing=() package sudo=""
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { clients_log "missing ${missing[*]}, and there is no apt-get to install them"; return 2; }
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  clients_log "installing ${missing[*]} (Debian)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

clients_buf() {
  local tools="$ROOT/.ci/tools"
  BUF="$tools/node_modules/.bin/buf"
  if [ ! -x "$BUF" ] || [ "$("$BUF" --version 2>/dev/null)" != "$CLIENTS_BUF_VERSION" ]; then
    command -v npm >/dev/null || { clients_log "npm is missing (buf comes from npm)"; return 2; }
    clients_log "installing buf $CLIENTS_BUF_VERSION into $tools"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund --silent "@bufbuild/buf@$CLIENTS_BUF_VERSION" >&2
  fi
}

clients_venv() {
  local python=${PYTHON:-python3} venv="$ROOT/target/grpc-clients-venv" requirements="$ROOT/clients/python/requirements-dev.txt"
  local want stamp
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    clients_log "$python is missing or older than 3.9; set PYTHON"
    return 2
  fi
  want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version, sys.executable)'; } | sha256sum | cut -d' ' -f1)
  stamp="$venv/.keyroute-requirements.sha256"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    clients_log "creating virtualenv $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" 2>/dev/null; then
      # Debian's Python lacks ensurepip without python3-venv; virtualenv brings its own pip.
      rm -rf "$venv" "$venv.bootstrap"
      "$python" -m pip install --quiet --disable-pip-version-check --target "$venv.bootstrap" virtualenv==21.15.8
      PYTHONPATH="$venv.bootstrap" "$python" -m virtualenv --quiet "$venv"
      rm -rf "$venv.bootstrap"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$want" >"$stamp"
  fi
  CLIENTS_PYTHON="$venv/bin/python"
}

clients_go_plugins() {
  clients_apt protoc-gen-go protoc-gen-go-grpc || return
  local found
  found=$(protoc-gen-go --version 2>&1)
  if [ "$found" != "$CLIENTS_PROTOC_GEN_GO_VERSION" ]; then
    clients_log "protoc-gen-go is \"$found\", not \"$CLIENTS_PROTOC_GEN_GO_VERSION\" (Debian 12's): the Go code would differ"
    return 2
  fi
  found=$(protoc-gen-go-grpc --version 2>&1)
  if [ "$found" != "$CLIENTS_PROTOC_GEN_GO_GRPC_VERSION" ]; then
    clients_log "protoc-gen-go-grpc is \"$found\", not \"$CLIENTS_PROTOC_GEN_GO_GRPC_VERSION\" (Debian 12's): the Go code would differ"
    return 2
  fi
}

clients_go_env() {
  local gopath="$ROOT/target/grpc-clients-gopath"
  # grpc-go 1.33's codec marshals through github.com/golang/protobuf: its 1.5 (APIv1 on top
  # of google.golang.org/protobuf), not 1.3, which cannot read the generated APIv2 messages.
  clients_apt golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev || return
  # clients/go as keyroute.dev/client in a GOPATH of its own, before Debian's sources.
  mkdir -p "$gopath/src/keyroute.dev"
  ln -sfn "$ROOT/clients/go" "$gopath/src/keyroute.dev/client"
  GO_ENV=(env GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$gopath:/usr/share/gocode"
    GOCACHE="$ROOT/target/grpc-clients-gocache")
  GO_PACKAGE_DIR="$gopath/src/keyroute.dev/client"
}
