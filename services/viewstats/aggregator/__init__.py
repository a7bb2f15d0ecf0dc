"""The aggregator: views topic → counter shards, exactly once per distinct beacon, crash-safe.

Why not a ``ServiceKit.consumer``: exactness needs control the generic consumer does not give — per partition state
rebuilt at assignment (re-read the de-dup window *before* the committed offset), a flush inside the revoke callback
(so two owners never write one shard), and a hot path that parses raw bytes with orjson instead of a pydantic model
per record (≥ 100k views/s on one core).

The pieces:

- :mod:`~viewstats.aggregator.loop`: :class:`Aggregator`: assignment and revocation, the read loop, lag;
- :mod:`~viewstats.aggregator.clients`: its Kafka consumer, aiokafka or confluent-kafka
  (``VIEWSTATS_AGGREGATOR_CLIENT``), behind one small interface;
- :mod:`~viewstats.aggregator.flush`: :class:`~viewstats.aggregator.flush.Flusher`, the writes to the store, the
  dead letters and the commits;
- :mod:`~viewstats.aggregator.upkeep`: popularity events and retention, in the background;
- :mod:`viewstats.domain.partition`: what a partition's owner computes (de-dup, queue, the maps to write), pure;
- :mod:`~viewstats.aggregator.standalone`: the aggregator as a process of its own (``python -m viewstats.aggregator``).

What it shares with the chassis consumers: a record that is not a view beacon goes to ``<group>.dlq`` with the
chassis' ``dlq_*`` headers (``common.messaging.DeadLetters``) before its offset can be committed, and the chassis
metrics (messages consumed, failed, dead-lettered; lag per partition) are exported with the same labels.
"""

from viewstats.aggregator.clients import FETCH, FETCH_RECORDS
from viewstats.aggregator.loop import Aggregator

__all__ = ["FETCH", "FETCH_RECORDS", "Aggregator"]
