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
#   contract-tools.sh ralph-start Ralph's LRS (ralph.api:app under uvicorn) on 127.0.0.1:$LOCAL_RALPH_PORT (default
#                                 8100), its statements in the database `ralph` of our FerretDB ($MONGODB_URL, else
#                                 127.0.0.1:$LOCAL_MONGO_PORT: start the infrastructure first), one Basic-auth user
#                                 made by `ralph auth` (its password generated once, in $SMARTEDU_STATE/ralph)
#   contract-tools.sh ralph-stop  stop it (its statements stay in the database)
#   contract-tools.sh ralph-env   the exporter's settings for it (XAPI_LRS_URL, user, password), for `eval`
#
# Ralph's MongoDB backend (async_mongo) on our FerretDB, not its file-system one: Ralph 5.1's fs LRS backend takes a
# single write (a second POST answers 500, "fs_lrs.jsonl already exists and overwrite is not allowed"). Tried on
# FerretDB 1.24: writes, duplicate ids dropped, reads by statementId and by agent all work.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SMARTEDU_CACHE:-$ROOT/.cache}
ASYNCAPI_CLI_VERSION=6.2.0
RALPH_VERSION=5.1.0
ASYNCAPI_DIR=$CACHE/asyncapi-cli/$ASYNCAPI_CLI_VERSION
RALPH_ENV=$CACHE/ralph/$RALPH_VERSION
REQUESTS_VERSION=2.34.2   # ralph.api.auth.oidc imports it, the lrs extra does not declare it
STATE=${SMARTEDU_STATE:-$CACHE/state}
RALPH_STATE=$STATE/ralph
RALPH_PORT=${LOCAL_RALPH_PORT:-8100}
RALPH_USER=smartedu-xapi

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
  "$RALPH_ENV/bin/pip" install -q --disable-pip-version-check "ralph-malph[cli,lrs,backend-mongo]==$RALPH_VERSION" \
    "requests==$REQUESTS_VERSION"
  touch "$RALPH_ENV/.complete"
}

ralph_running() { [ -f "$RALPH_STATE/ralph.pid" ] && kill -0 "$(cat "$RALPH_STATE/ralph.pid")" 2>/dev/null; }

ralph_start() {
  provision_ralph
  if ralph_running; then return; fi
  mkdir -p "$RALPH_STATE"
  export RALPH_APP_DIR=$RALPH_STATE RALPH_RUNSERVER_BACKEND=async_mongo
  if [ ! -f "$RALPH_STATE/credentials.env" ]; then  # one Basic-auth user, its password generated here, once
    local password
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    rm -f "$RALPH_STATE/auth.json"
    "$RALPH_ENV/bin/ralph" auth -u "$RALPH_USER" -p "$password" -s all -A xapi-exporter https://basic.smartedu.cn -w \
      > "$RALPH_STATE/auth.log" 2>&1 || { cat "$RALPH_STATE/auth.log"; exit 1; }
    (umask 077 && echo "RALPH_PASSWORD=$password" > "$RALPH_STATE/credentials.env")
  fi
  local mongo=${MONGODB_URL:-mongodb://127.0.0.1:${LOCAL_MONGO_PORT:-27017}}
  say "starting Ralph (xAPI LRS) on 127.0.0.1:$RALPH_PORT (statements in $mongo database ralph, log $RALPH_STATE/ralph.log)"
  # Ralph's own ASGI app under uvicorn, as its production image runs it (`ralph runserver` is its development
  # server: auto-reload and a file watcher). Its async_mongo LRS backend reads the mongo backend's settings.
  RALPH_BACKENDS__LRS__MONGO__CONNECTION_URI=$mongo RALPH_BACKENDS__LRS__MONGO__DEFAULT_DATABASE=ralph \
    RALPH_BACKENDS__LRS__MONGO__DEFAULT_COLLECTION=statements nohup "$RALPH_ENV/bin/python" -m uvicorn \
    ralph.api:app --host 127.0.0.1 --port "$RALPH_PORT" --no-access-log >> "$RALPH_STATE/ralph.log" 2>&1 &
  echo $! > "$RALPH_STATE/ralph.pid"
  local i
  for ((i = 0; i < 300; i++)); do
    if curl -sf "http://127.0.0.1:$RALPH_PORT/__heartbeat__" >/dev/null 2>&1; then return; fi
    ralph_running || { tail -n 30 "$RALPH_STATE/ralph.log"; exit 1; }
    sleep 0.2
  done
  say "Ralph did not answer within 60 s"; tail -n 30 "$RALPH_STATE/ralph.log"; exit 1
}

ralph_stop() {
  if ralph_running; then
    local pid; pid=$(cat "$RALPH_STATE/ralph.pid")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    say "stopped Ralph"
  fi
  rm -f "$RALPH_STATE/ralph.pid"
}

case "${1:-}" in
  provision)
    provision_asyncapi; provision_ralph
    say "provisioned: @asyncapi/cli $ASYNCAPI_CLI_VERSION, ralph-malph $RALPH_VERSION" ;;
  env)
    echo "export SMARTEDU_ASYNCAPI=$ASYNCAPI_DIR/node_modules/.bin/asyncapi SMARTEDU_ASYNCAPI_HOME=$ASYNCAPI_DIR/home" \
      "SMARTEDU_RALPH=$RALPH_ENV/bin/ralph" ;;
  ralph-start) ralph_start ;;
  ralph-stop) ralph_stop ;;
  ralph-env)
    # shellcheck disable=SC1091
    . "$RALPH_STATE/credentials.env"
    echo "export XAPI_LRS_URL=http://127.0.0.1:$RALPH_PORT/xAPI/ XAPI_LRS_USERNAME=$RALPH_USER" \
      "XAPI_LRS_PASSWORD=$RALPH_PASSWORD" ;;
  ralph-status) ralph_running && echo "ralph: running (127.0.0.1:$RALPH_PORT)" || echo "ralph: stopped" ;;
  *) echo "usage: $0 provision|env|ralph-start|ralph-stop|ralph-env|ralph-status" >&2; exit 2 ;;
esac
