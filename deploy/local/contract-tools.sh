#!/usr/bin/env bash
# The contract tools (issue 17), provisioned like the operators' tools: by `make` (`make contract-tools`, part of
# `make provision`), into the git-ignored cache, pinned, each in an environment of its own (tools, not dependencies
# of the services: pyproject.toml/uv.lock stay as they are).
#
#   asyncapi   @asyncapi/cli (npm), the AsyncAPI project's own validator; usage analytics are turned off (its
#              config lives under the cache, not in the user's home) and the no-config warning is suppressed
#   ralph      ralph-malph[cli,lrs,backend-mongo] (PyPI), a Learning Record Store (xAPI 1.0.3) in Python; it pins
#              its own Motor/PyMongo, hence its own virtual environment
#
#   contract-tools.sh provision   what is missing (idempotent)
#   contract-tools.sh env         the tools' paths, as shell exports (tests read the same variables)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SMARTEDU_CACHE:-$ROOT/.cache}
ASYNCAPI_CLI_VERSION=6.2.0
RALPH_VERSION=5.1.0
ASYNCAPI_DIR=$CACHE/asyncapi-cli/$ASYNCAPI_CLI_VERSION
RALPH_ENV=$CACHE/ralph/$RALPH_VERSION

say() { printf '\033[1m[contract-tools]\033[0m %s\n' "$*"; }

asyncapi_env() {  # the CLI keeps its config (analytics switch) in $HOME/.asyncapi*: a home of its own in the cache
  echo "HOME=$ASYNCAPI_DIR/home SUPPRESS_NO_CONFIG_WARNING=1 ASYNCAPI_METRICS=false"
}

provision_asyncapi() {
  [ -f "$ASYNCAPI_DIR/.complete" ] && return
  say "installing @asyncapi/cli $ASYNCAPI_CLI_VERSION into $ASYNCAPI_DIR (first time only, ~40 s)"
  rm -rf "$ASYNCAPI_DIR" && mkdir -p "$ASYNCAPI_DIR/home"
  npm install --silent --no-audit --no-fund --prefix "$ASYNCAPI_DIR" "@asyncapi/cli@$ASYNCAPI_CLI_VERSION"
  env $(asyncapi_env) "$ASYNCAPI_DIR/node_modules/.bin/asyncapi" config analytics --disable >/dev/null
  touch "$ASYNCAPI_DIR/.complete"
}

provision_ralph() {
  [ -f "$RALPH_ENV/.complete" ] && return
  say "installing ralph-malph $RALPH_VERSION into $RALPH_ENV (first time only, ~20 s)"
  rm -rf "$RALPH_ENV"
  python3 -m venv "$RALPH_ENV"
  "$RALPH_ENV/bin/pip" install -q --disable-pip-version-check "ralph-malph[cli,lrs,backend-mongo]==$RALPH_VERSION"
  touch "$RALPH_ENV/.complete"
}

case "${1:-}" in
  provision)
    provision_asyncapi; provision_ralph
    say "provisioned: @asyncapi/cli $ASYNCAPI_CLI_VERSION, ralph-malph $RALPH_VERSION" ;;
  env)
    echo "export SMARTEDU_ASYNCAPI=$ASYNCAPI_DIR/node_modules/.bin/asyncapi SMARTEDU_ASYNCAPI_HOME=$ASYNCAPI_DIR/home" \
      "SMARTEDU_RALPH=$RALPH_ENV/bin/ralph" ;;
  *) echo "usage: $0 provision|env" >&2; exit 2 ;;
esac
