#!/usr/bin/env bash
# Local infrastructure for `make run` and `make test`: Apache Kafka (single-node KRaft, from the
# official Maven Central artifacts, run with the machine's Java), FerretDB (MongoDB wire protocol,
# built from its Go module, SQLite backend by default) and SeaweedFS (an S3-compatible object store for
# class groups' media, built from its Go module; signatures checked against generated credentials).
# Everything lives under $CACHE (git-ignored), binds to 127.0.0.1, and is skipped when
# KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL / S3_ENDPOINT_URL point elsewhere.
# FERRETDB_HANDLER=postgresql without FERRETDB_POSTGRESQL_URL also runs a PostgreSQL cluster of its own
# (the machine's initdb/pg_ctl, data in $STATE/postgres-data, 127.0.0.1:$LOCAL_PG_PORT, trust auth: local use only).
#
#   infra.sh provision   download / build what is missing (idempotent, cached)
#   infra.sh start       start what is not running and wait until it answers
#   infra.sh stop        stop what this script started
#   infra.sh status
#   infra.sh env [principal]   the Kafka login of a principal (default admin), for `eval` (docs/SECURITY.md)
#   infra.sh env s3            the object store's endpoint and credentials, for `eval`
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SMARTEDU_CACHE:-$ROOT/.cache}
STATE=${SMARTEDU_STATE:-$CACHE/state}     # data dirs, pid files, logs
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/local/kafka/pom.xml")
FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.2}
KAFKA_LIBS=$CACHE/kafka/$KAFKA_VERSION/libs
FERRETDB_BIN=$CACHE/ferretdb/$FERRETDB_VERSION/ferretdb
KAFKA_PORT=${LOCAL_KAFKA_PORT:-9092}
CONTROLLER_PORT=${LOCAL_KAFKA_CONTROLLER_PORT:-9093}
MONGO_PORT=${LOCAL_MONGO_PORT:-27017}
FERRETDB_HANDLER=${FERRETDB_HANDLER:-sqlite}          # sqlite | postgresql
# SQLite's commit in WAL mode: normal | full. "full" fsyncs the WAL at every commit: on a shared VM's disk one fsync
# can stall every write behind it for a fraction of a second. "normal" fsyncs at checkpoints: a killed FerretDB
# keeps every acknowledged write (the WAL is in the OS's cache), only an OS crash may lose the last ones, as a
# MongoDB acknowledges a w:1 write before its journal's flush. docs/BENCHMARKS.md, class groups, session 18.
FERRETDB_SQLITE_SYNCHRONOUS=${FERRETDB_SQLITE_SYNCHRONOUS:-normal}
PG_PORT=${LOCAL_PG_PORT:-5432}
PG_OWN=$([ "$FERRETDB_HANDLER" = postgresql ] && [ -z "${FERRETDB_POSTGRESQL_URL:-}" ] && [ -z "${MONGODB_URL:-}" ] \
  && echo 1 || true)                                   # 1: this script runs the PostgreSQL FerretDB uses
FERRETDB_POSTGRESQL_URL=${FERRETDB_POSTGRESQL_URL:-postgres://ferretdb@127.0.0.1:$PG_PORT/ferretdb}
KAFKA_HEAP=${LOCAL_KAFKA_HEAP:-768m}
# SeaweedFS: no releases on the module proxy, only pseudo-versions of its main branch: this one is pinned.
SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
SEAWEEDFS_BIN=$CACHE/seaweedfs/$SEAWEEDFS_VERSION/weed
S3_PORT=${LOCAL_S3_PORT:-8333}
# master, volume and filer HTTP ports follow the S3 port; their gRPC ports (and the S3 gateway's) are 4 more
SEAWEEDFS_PORT=${LOCAL_SEAWEEDFS_PORT:-$((S3_PORT + 1))}
SEAWEEDFS_GRPC_PORT=${LOCAL_SEAWEEDFS_GRPC_PORT:-$((SEAWEEDFS_PORT + 10000))}
S3_CREDENTIALS=$STATE/s3-credentials.env             # the local object store's access key and secret
CREDENTIALS=$STATE/kafka-credentials.env            # SCRAM passwords of the local broker's principals

say() { printf '\033[1m[infra]\033[0m %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds log
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    port_open "$2" && return 0
    sleep 0.2
  done
  say "$1 did not open 127.0.0.1:$2 within $3 s; last lines of $4:"
  tail -n 30 "$4" >&2 || true
  return 1
}

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

provision_kafka() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then return; fi
  say "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS (first time only, ~30 s)"
  rm -rf "$KAFKA_LIBS"
  mvn -B -ntp -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" | grep -E "Copying|BUILD|ERROR" | sed 's/^/  /' | tail -n 5
  touch "$KAFKA_LIBS/.complete"
}

provision_ferretdb() {
  if [ -x "$FERRETDB_BIN" ]; then return; fi
  say "building FerretDB $FERRETDB_VERSION from its Go module (first time only, ~2 min)"
  # `go install …@version` is not used: it also asks the module proxy for the version list, which the proxy
  # here refuses, and FerretDB's build wants build/version/version.txt, which its release tooling writes.
  local src dir=$CACHE/ferretdb/$FERRETDB_VERSION
  src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$dir/src" && mkdir -p "$dir" && cp -r "$src" "$dir/src" && chmod -R u+w "$dir/src"
  echo "$FERRETDB_VERSION" > "$dir/src/build/version/version.txt"
  (cd "$dir/src" && go build -v -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb 2>&1 \
    | awk '{n++; if (n % 40 == 0) print "  compiled " n " packages…"}')
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$dir/src"
}

provision_seaweedfs() {
  if [ -x "$SEAWEEDFS_BIN" ]; then return; fi
  say "building SeaweedFS $SEAWEEDFS_VERSION from its Go module (first time only, ~4 min)"
  # `go install …/weed@version` is refused (its go.mod has replace directives): the module is downloaded and
  # its ./weed built inside it, as the main module, so the replaces apply.
  local src
  src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || { say "could not download github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION"; exit 1; }
  mkdir -p "$(dirname "$SEAWEEDFS_BIN")"
  (cd "$src" && go build -o "$SEAWEEDFS_BIN.tmp" ./weed 2>&1 | { grep -v '^go: downloading' || true; } | tail -n 20)
  [ -x "$SEAWEEDFS_BIN.tmp" ] || { say "building SeaweedFS failed"; exit 1; }
  mv "$SEAWEEDFS_BIN.tmp" "$SEAWEEDFS_BIN"
}

s3_config() { # one S3 identity with random keys (made once per state dir), so the gateway checks signatures
  if [ ! -f "$S3_CREDENTIALS" ]; then
    (
      umask 077
      echo "# The local object store's S3 identity, made by deploy/local/infra.sh (not in the repository)."
      echo "S3_ACCESS_KEY_ID=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c 20)"
      echo "S3_SECRET_ACCESS_KEY=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
    ) > "$S3_CREDENTIALS"
  fi
  # shellcheck disable=SC1090
  . "$S3_CREDENTIALS"
  (umask 077 && cat > "$STATE/s3-identities.json" <<JSON
{"identities": [{"name": "smartedu", "credentials": [{"accessKey": "$S3_ACCESS_KEY_ID",
  "secretKey": "$S3_SECRET_ACCESS_KEY"}], "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON
  )
}

start_seaweedfs() {
  if [ -n "${S3_ENDPOINT_URL:-}" ]; then say "object store: using S3_ENDPOINT_URL=$S3_ENDPOINT_URL"; return; fi
  if running seaweedfs; then say "SeaweedFS already running (S3 on 127.0.0.1:$S3_PORT)"; return; fi
  local p
  for p in "$S3_PORT" "$SEAWEEDFS_PORT" "$((SEAWEEDFS_PORT + 1))" "$((SEAWEEDFS_PORT + 2))" \
    "$SEAWEEDFS_GRPC_PORT" "$((SEAWEEDFS_GRPC_PORT + 1))" "$((SEAWEEDFS_GRPC_PORT + 2))" "$((SEAWEEDFS_GRPC_PORT + 3))"; do
    if port_open "$p"; then say "port $p is taken by a process this script did not start"; exit 1; fi
  done
  provision_seaweedfs
  mkdir -p "$STATE/seaweedfs-data" "$STATE/logs"
  s3_config
  local g=$SEAWEEDFS_GRPC_PORT
  say "starting SeaweedFS on 127.0.0.1 (S3 :$S3_PORT, master/volume/filer :$SEAWEEDFS_PORT-$((SEAWEEDFS_PORT + 2)), log $STATE/logs/seaweedfs.log)"
  # Small volumes (the default is 30 GB each) and no Iceberg catalog port; every listener on 127.0.0.1.
  nohup "$SEAWEEDFS_BIN" server -dir="$STATE/seaweedfs-data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$SEAWEEDFS_PORT" -master.port.grpc="$g" -master.volumeSizeLimitMB=64 \
    -volume.port="$((SEAWEEDFS_PORT + 1))" -volume.port.grpc="$((g + 1))" -volume.max=32 \
    -filer -filer.port="$((SEAWEEDFS_PORT + 2))" -filer.port.grpc="$((g + 2))" \
    -s3 -s3.port="$S3_PORT" -s3.port.grpc="$((g + 3))" -s3.port.iceberg=0 -s3.config="$STATE/s3-identities.json" \
    > "$STATE/logs/seaweedfs.log" 2>&1 &
  echo $! > "$STATE/seaweedfs.pid"
  wait_port SeaweedFS "$S3_PORT" 90 "$STATE/logs/seaweedfs.log"
}

s3_env() { # the object store the services use, as shell exports (`eval "$(infra.sh env s3)"`)
  [ -f "$S3_CREDENTIALS" ] || { echo "no $S3_CREDENTIALS: start the object store first (infra.sh start)" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "$S3_CREDENTIALS"
  echo "export S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID" \
    "S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY"
}

principals() { # the Kafka principals declared in libs/common/topics.py (stdlib only: any python3 reads it)
  PYTHONPATH=$ROOT/libs python3 -m common.topics principals
}

new_credentials() { # a random password per principal, readable by this account only, never in the repository
  local name
  (
    umask 077
    exec > "$CREDENTIALS"
    echo "# Kafka SASL/SCRAM-SHA-512 passwords of this checkout's local broker, made by deploy/local/infra.sh when"
    echo "# it formatted the storage (a new format makes new ones). KAFKA_PASSWORD_<PRINCIPAL>; see docs/SECURITY.md."
    for name in controller $(principals); do
      echo "KAFKA_PASSWORD_$(echo "$name" | tr 'a-z-' 'A-Z_')=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
    done
  )
}

start_kafka() {
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then say "Kafka: using KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"; return; fi
  if running kafka && [ ! -f "$CREDENTIALS" ]; then
    say "the running Kafka was started before SASL (no $CREDENTIALS): restarting it with logins and ACLs"
    stop_one kafka
  fi
  if running kafka; then say "Kafka already running on 127.0.0.1:$KAFKA_PORT"; add_missing_principals; return; fi
  if port_open "$KAFKA_PORT"; then say "port $KAFKA_PORT is taken by a process this script did not start"; exit 1; fi
  provision_kafka
  local data=$STATE/kafka-data conf=$STATE/kafka.properties cp="$KAFKA_LIBS/*"
  if [ -f "$data/meta.properties" ] && [ ! -f "$CREDENTIALS" ]; then
    say "Kafka storage in $data has no SCRAM users (made before SASL): formatting it again"
    rm -rf "$data"
  fi
  mkdir -p "$data" "$STATE/logs"
  local formatting=
  if [ ! -f "$data/meta.properties" ]; then formatting=1; new_credentials; fi
  # shellcheck disable=SC1090
  . "$CREDENTIALS"
  (umask 077 && sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
    -e "s#@DATA_DIR@#$data#g" -e "s#@ADMIN_PASSWORD@#$KAFKA_PASSWORD_ADMIN#g" \
    -e "s#@CONTROLLER_PASSWORD@#$KAFKA_PASSWORD_CONTROLLER#g" \
    "$ROOT/deploy/local/kafka/server.properties.in" > "$conf")
  local jopts=(-Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/deploy/local/kafka/log4j2.yaml")
  if [ -n "$formatting" ]; then
    say "formatting Kafka KRaft storage in $data, with a SCRAM user per principal (passwords in $CREDENTIALS)"
    local scram=() name var
    for name in $(principals); do
      var=KAFKA_PASSWORD_$(echo "$name" | tr 'a-z-' 'A-Z_')
      scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=${!var}]")
    done
    java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" \
      -c "$conf" "${scram[@]}" > "$STATE/logs/kafka-format.log" 2>&1 || { cat "$STATE/logs/kafka-format.log"; exit 1; }
  fi
  # Class data sharing: the first start records the classes Kafka loads into an archive (written when it stops),
  # later starts map it: 4.3 → 2.4 s to the open port here. The JVM ignores a damaged archive; a newer JVM records
  # a new one.
  local cds=$STATE/kafka-$KAFKA_VERSION.jsa
  if [ -s "$cds" ] && [ "$cds" -nt "$(readlink -f "$(command -v java)")" ]; then
    jopts+=("-XX:SharedArchiveFile=$cds")
  else
    rm -f "$cds"
    jopts+=("-XX:ArchiveClassesAtExit=$cds")
  fi
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (heap $KAFKA_HEAP, log $STATE/logs/kafka.log)"
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$conf" > "$STATE/logs/kafka.log" 2>&1 &
  echo $! > "$STATE/kafka.pid"
  wait_port Kafka "$KAFKA_PORT" 60 "$STATE/logs/kafka.log"
  add_missing_principals
}

add_missing_principals() { # a principal declared after this broker was formatted gets its SCRAM user now
  local missing=() name var password
  # shellcheck disable=SC1090
  . "$CREDENTIALS"
  for name in $(principals); do
    var=KAFKA_PASSWORD_$(echo "$name" | tr 'a-z-' 'A-Z_')
    [ -n "${!var:-}" ] || missing+=("$name")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local admin=$STATE/kafka-admin-client.properties
  (umask 077 && printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_PASSWORD_ADMIN\";" \
    > "$admin")
  for name in "${missing[@]}"; do
    say "adding the SCRAM user of principal $name (declared after this broker's storage was formatted)"
    password=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
    java -cp "$KAFKA_LIBS/*" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --command-config "$admin" --alter --entity-type users --entity-name "$name" \
      --add-config "SCRAM-SHA-512=[password=$password]" > "$STATE/logs/kafka-add-user.log" 2>&1 \
      || { cat "$STATE/logs/kafka-add-user.log"; exit 1; }
    (umask 077 && echo "KAFKA_PASSWORD_$(echo "$name" | tr 'a-z-' 'A-Z_')=$password" >> "$CREDENTIALS")
  done
}

kafka_env() { # principal: the login a client of this broker uses, as shell exports (`eval "$(infra.sh env admin)"`)
  local name=${1:-admin} var
  [ -f "$CREDENTIALS" ] || { echo "no $CREDENTIALS: start Kafka first (infra.sh start)" >&2; exit 1; }
  var=KAFKA_PASSWORD_$(echo "$name" | tr 'a-z-' 'A-Z_')
  # shellcheck disable=SC1090
  . "$CREDENTIALS"
  [ -n "${!var:-}" ] || { echo "no principal $name in $CREDENTIALS" >&2; exit 1; }
  echo "export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512 KAFKA_SASL_USERNAME=$name" \
    "KAFKA_SASL_PASSWORD=${!var}"
}

pg_bin() { # the directory holding initdb, pg_ctl and postgres: PATH first, then the newest /usr/lib/postgresql/*
  local d
  for d in "$(dirname "$(readlink -f "$(command -v pg_ctl || echo /nonexistent/x)")")" \
    $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return; fi
  done
  say "PostgreSQL not found (initdb, pg_ctl, postgres): install Debian's postgresql, or set FERRETDB_POSTGRESQL_URL"
  exit 1
}

pg_user() { # PostgreSQL refuses to run as root: as root, its processes run as the postgres (else nobody) account
  if [ "$(id -u)" != 0 ]; then id -un; elif id postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}

as_pg() { # run a PostgreSQL tool as pg_user, from / (it must not inherit a cwd it cannot read)
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$(pg_user)" -- "$@"); else (cd / && "$@"); fi
}

start_postgres() {
  [ -n "$PG_OWN" ] || return 0
  if running postgres; then say "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return; fi
  if port_open "$PG_PORT"; then say "port $PG_PORT is taken by a process this script did not start"; exit 1; fi
  local bin data=$STATE/postgres-data sock=$STATE/postgres-run log=$STATE/logs/postgres.log user
  bin=$(pg_bin) user=$(pg_user)
  mkdir -p "$data" "$sock" "$STATE/logs" && touch "$log"
  if [ "$(id -u)" = 0 ]; then
    chown -R "$user" "$data" "$sock" "$log"
    if ! as_pg test -w "$data"; then
      say "PostgreSQL runs as $user here, who cannot reach $data: use another SMARTEDU_STATE"; exit 1
    fi
  fi
  chmod 700 "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $data (as $user)"
    as_pg "$bin/initdb" -D "$data" -U ferretdb --auth-local=trust --auth-host=trust -E UTF8 --locale=C \
      > "$STATE/logs/postgres-initdb.log" 2>&1 || { cat "$STATE/logs/postgres-initdb.log"; exit 1; }
    printf '%s\n' "# infra.sh" "shared_buffers = 256MB" "listen_addresses = '127.0.0.1'" >> "$data/postgresql.conf"
  fi
  say "starting PostgreSQL $("$bin/postgres" -V | awk '{print $3}') on 127.0.0.1:$PG_PORT (log $log)"
  as_pg "$bin/pg_ctl" start -D "$data" -l "$log" -w -t 60 -o "-p $PG_PORT -k '$sock'" > /dev/null \
    || { tail -n 30 "$log" >&2; exit 1; }
  head -n 1 "$data/postmaster.pid" > "$STATE/postgres.pid"
  wait_port PostgreSQL "$PG_PORT" 30 "$log"
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U ferretdb -d postgres -v ON_ERROR_STOP=1)
  [ -x "$bin/psql" ] || psql[0]=psql
  if [ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'")" ]; then
    "${psql[@]}" -c "CREATE DATABASE ferretdb"
  fi
}

start_ferretdb() {
  if [ -n "${MONGODB_URL:-}" ]; then say "store: using MONGODB_URL"; return; fi
  if running ferretdb; then say "FerretDB already running on 127.0.0.1:$MONGO_PORT"; return; fi
  if port_open "$MONGO_PORT"; then say "port $MONGO_PORT is taken by a process this script did not start"; exit 1; fi
  provision_ferretdb
  mkdir -p "$STATE/logs"
  local args=(--listen-addr="127.0.0.1:$MONGO_PORT" --debug-addr=- --telemetry=disable --log-level=warn)
  if [ "$FERRETDB_HANDLER" = postgresql ]; then
    args+=(--handler=postgresql --postgresql-url="$FERRETDB_POSTGRESQL_URL")
  else
    mkdir -p "$STATE/ferretdb-data"
    args+=(--handler=sqlite --sqlite-url="file:$STATE/ferretdb-data/?_pragma=synchronous($FERRETDB_SQLITE_SYNCHRONOUS)")
  fi
  say "starting FerretDB $FERRETDB_VERSION ($FERRETDB_HANDLER) on 127.0.0.1:$MONGO_PORT (log $STATE/logs/ferretdb.log)"
  nohup "$FERRETDB_BIN" "${args[@]}" > "$STATE/logs/ferretdb.log" 2>&1 &
  echo $! > "$STATE/ferretdb.pid"
  wait_port FerretDB "$MONGO_PORT" 30 "$STATE/logs/ferretdb.log"
}

stop_one() { # name [signal]
  local name=$1 sig=${2:-TERM} pid i
  running "$name" || { rm -f "$STATE/$name.pid"; return 0; }
  pid=$(cat "$STATE/$name.pid")
  say "stopping $name (pid $pid)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/$name.pid"
}

case "${1:-}" in
  provision)
    provision_kafka; provision_ferretdb; [ -n "${S3_ENDPOINT_URL:-}" ] || provision_seaweedfs
    say "provisioned: Kafka $KAFKA_VERSION, FerretDB $FERRETDB_VERSION, SeaweedFS $SEAWEEDFS_VERSION" ;;
  start) mkdir -p "$STATE"; start_postgres; start_ferretdb; start_seaweedfs; start_kafka ;;
  stop) stop_one ferretdb; stop_one postgres INT; stop_one seaweedfs; stop_one kafka ;;   # SIGINT: PostgreSQL's fast shutdown
  env) if [ "${2:-}" = s3 ]; then s3_env; else kafka_env "${2:-admin}"; fi ;;
  status)
    for n in kafka postgres ferretdb seaweedfs; do if running $n; then echo "$n: running (pid $(cat "$STATE/$n.pid"))"; else echo "$n: stopped"; fi; done ;;
  *) echo "usage: $0 provision|start|stop|status|env [principal]" >&2; exit 2 ;;
esac
