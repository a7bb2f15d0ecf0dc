"""Adopt another views topic for a database that counted one: an operator's step, after the views topic was
recreated (its offsets start again at 0) or replaced by another (a new contract version).

    python -m viewstats.rebase            # shows what the database counted and what the settings read
    python -m viewstats.rebase --confirm  # adopts the settings' topic

It runs with viewstats' own environment (``kubectl exec`` into a viewstats pod). Until it runs, aggregators on the
new topic keep their partitions paused (``viewstats_aggregator_foreign_topic`` = 1, an error in their log): their
records wait in Kafka. It sets every counter shard's applied offset below any record's and records the new topic
(``ViewStore.adopt_source``); the counts stay, and the paused aggregators resume within 10 s. When the old topic
still exists, let its views be counted first (its lag at 0): what it holds after the step is not counted.
Exit status 0 when the settings' topic is (now) the database's, 3 when ``--confirm`` is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from common.service import ServiceKit
from viewstats.aggregator.clients import topic_id
from viewstats.domain.source import Source
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore

NOT_CONFIRMED = 3


async def rebase(settings: ViewstatsSettings, *, confirm: bool) -> int:
    current = Source(settings.views_topic, await asyncio.to_thread(topic_id, settings))
    store = ServiceKit("viewstats", settings).store  # the service's own database, by the chassis' rule
    try:
        views = ViewStore(store.db)
        recorded = await views.recorded_source(current)
        if recorded == current:
            print(f"the database counts {current.describe()}: nothing to do")
            return 0
        print(f"the database counted {recorded.describe()}; the settings read {current.describe()}")
        if not confirm:
            print("run again with --confirm to adopt it", file=sys.stderr)
            return NOT_CONFIRMED
        reset = await views.adopt_source(current)
        print(f"adopted {current.describe()}: applied offsets reset in {len(reset)} counter collections")
        return 0
    finally:
        await store.client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewstats.rebase", description=__doc__.split("\n\n")[0])
    p.add_argument("--confirm", action="store_true", help="adopt the settings' views topic")
    return asyncio.run(rebase(ViewstatsSettings(), confirm=p.parse_args(argv).confirm))


if __name__ == "__main__":
    sys.exit(main())
