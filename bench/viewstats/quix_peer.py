"""The peer a Python team would pick instead of writing an aggregator: a Quix Streams application computing the views
per minute by resource from the views topic, with its exactly-once setting. Runs in its own environment (``make
quix``: Quix Streams pins an older confluent-kafka and pydantic than the project's), started by
``bench_aggregator.py --peer``; nothing of the project is imported here.

What it computes, the Quix way:
- the event time is the beacon's ``viewed_at`` (a timestamp extractor), the key the record's (the resource id);
- a client's retry (the same ``ce_id`` header) is dropped by a stateful filter (state per key: a retry has its
  original's resource), as the aggregator's de-dup window does;
- a tumbling window of one minute counts per resource, emitted once closed (``final``, closing per partition);
- the closed windows go to an output topic (``to_topic``), inside the exactly-once transactions: the output Quix's
  guarantee covers. Its sinks are at-least-once; the MongoDB sink (``--sink mongodb``: an upsert per window on
  ``<resource>|<window start>``) was tried first and is kept as an option: on FerretDB, where every lookup scans,
  its upserts took 17 to 188 s per 2,000 windows (docs/BENCHMARKS.md).

    .cache/quix/bin/python bench/viewstats/quix_peer.py --topic T --group G --output OUT --state-dir DIR

Connection from the environment: KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, MONGODB_URL (mongodb://host:port, for ``--sink mongodb``).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timedelta
from urllib.parse import urlparse

from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig


def connection() -> ConnectionConfig | str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return servers
    return ConnectionConfig(
        bootstrap_servers=servers,
        security_protocol=protocol.lower(),
        sasl_mechanism=os.environ["KAFKA_SASL_MECHANISM"],
        sasl_username=os.environ["KAFKA_SASL_USERNAME"],
        sasl_password=os.environ["KAFKA_SASL_PASSWORD"],
    )


def viewed_at(value, headers, timestamp: float, timestamp_type: int) -> int:
    return int(datetime.fromisoformat(value["viewed_at"]).timestamp() * 1000)


def first_delivery(value, key, timestamp, headers, state) -> bool:
    """False for a client's retry: its ``ce_id`` was seen before (under this key, the resource)."""
    event_id = dict(headers or ()).get("ce_id")
    if state.get(event_id) is not None:
        return False
    state.set(event_id, 1)
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--output", required=True, help="the output topic of the closed windows")
    ap.add_argument("--sink", choices=("topic", "mongodb"), default="topic")
    ap.add_argument("--state-dir", required=True)
    args = ap.parse_args()
    app = Application(
        broker_address=connection(),
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=args.state_dir,
    )
    views = app.topic(args.topic, key_deserializer="str", value_deserializer="json", timestamp_extractor=viewed_at)
    sdf = app.dataframe(views)
    sdf = sdf.filter(first_delivery, stateful=True, metadata=True)
    sdf = sdf.tumbling_window(timedelta(minutes=1)).count().final(closing_strategy="partition")
    if args.sink == "topic":
        sdf.to_topic(app.topic(args.output, key_serializer="str", value_serializer="json"))
    else:
        from quixstreams.sinks.community.mongodb import MongoDBSink

        mongo = urlparse(os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"))
        sdf.sink(
            MongoDBSink(
                host=mongo.hostname or "127.0.0.1",
                port=mongo.port or 27017,
                db=args.output.replace(".", "_"),
                collection="minute_views",
                document_matcher=lambda item: {"_id": f"{item.key}|{item.value['start']}"},
                value_selector=lambda value: {"start": value["start"], "views": value["value"]},
            )
        )
    app.run()


if __name__ == "__main__":
    main()
