#!/usr/bin/env bash
# `make test`: start Kafka and FerretDB unless KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL point elsewhere, create
# the declared topics, start Ralph (the xAPI LRS) unless XAPI_LRS_URL points at one, run the whole pytest suite,
# and stop what was started here.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=$ROOT/.cache/pyenv/bin/python
INFRA=$ROOT/deploy/local/infra.sh
# Tests run on their own ports and state, so they never touch a `make run` in progress.
export SMARTEDU_STATE=${SMARTEDU_STATE:-$ROOT/.cache/test-state}
export LOCAL_KAFKA_PORT=${LOCAL_KAFKA_PORT:-19092} LOCAL_KAFKA_CONTROLLER_PORT=${LOCAL_KAFKA_CONTROLLER_PORT:-19093}
export LOCAL_MONGO_PORT=${LOCAL_MONGO_PORT:-37017} LOCAL_PG_PORT=${LOCAL_PG_PORT:-35432}
export LOCAL_S3_PORT=${LOCAL_S3_PORT:-18333}
started=0
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || [ -z "${MONGODB_URL:-}" ] || [ -z "${S3_ENDPOINT_URL:-}" ]; then
  if ! "$INFRA" status | grep -q "kafka: running"; then started=1; fi
  "$INFRA" start || exit 1
fi
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  # Our broker takes SCRAM logins only: the suite runs as the admin principal; the ACL tests log in as each
  # service (tests/integration/common/test_kafka_acls.py) with the passwords infra.sh wrote.
  eval "$("$INFRA" env admin)" || exit 1
fi
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$LOCAL_KAFKA_PORT}
export MONGODB_URL=${MONGODB_URL:-mongodb://127.0.0.1:$LOCAL_MONGO_PORT}
# the object store of class groups' media (S3 API): its endpoint and the identity infra.sh generated
if [ -z "${S3_ENDPOINT_URL:-}" ]; then eval "$("$INFRA" env s3)" || exit 1; fi
"$PY" -m common.topics create || exit 1
# The xAPI exporter's Learning Record Store (Ralph, on the FerretDB above) unless XAPI_LRS_URL points at one
CONTRACT_TOOLS=$ROOT/deploy/local/contract-tools.sh
export LOCAL_RALPH_PORT=${LOCAL_RALPH_PORT:-18100}
ralph_started=0
if [ -z "${XAPI_LRS_URL:-}" ]; then
  if ! "$CONTRACT_TOOLS" ralph-status | grep -q running; then ralph_started=1; fi
  "$CONTRACT_TOOLS" ralph-start || exit 1
  eval "$("$CONTRACT_TOOLS" ralph-env)" || exit 1
fi
# Each test has its own time limit (pyproject: timeout); this one bounds the whole run, so CI always gets a
# report (SIGINT makes pytest print its summary) instead of being cut off.
timeout --signal=INT --kill-after=60 "${SUITE_TIMEOUT_SECONDS:-4200}" "$PY" -m pytest "$@"
status=$?
if [ "$ralph_started" = 1 ] && [ -z "${KEEP_INFRA:-}" ]; then "$CONTRACT_TOOLS" ralph-stop; fi
if [ "$started" = 1 ] && [ -z "${KEEP_INFRA:-}" ]; then "$INFRA" stop; fi
exit $status
