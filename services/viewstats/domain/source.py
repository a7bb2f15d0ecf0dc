"""The views topic a database's counters come from (计数来源).

Every counter shard carries the offset ``o`` of the last record it holds, and a flush counts only the records above
it: that is how a replay after a crash counts nothing twice (README "Exactness"). Those offsets mean something only
for the topic they were read from. A recreated topic starts again at offset 0, and another topic has offsets of its
own: compared with the stored ones, its views would be skipped as replays (measured before this check: 8 views of
a second topic into a database that had counted 20 of another, all 8 lost, silently). So the database records its
source, and an aggregator counts only from that topic, by name and by the id Kafka gives a topic when it is created.

Learning hours need no such record: a heartbeat is counted by its claim (its event id), and only a redelivered one
is held to its progress's applied offset (README "Learning hours").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    topic: str
    topic_id: str  # Kafka's topic id (KIP-516): a recreated topic of the same name has another

    def describe(self) -> str:
        return f"{self.topic} (topic id {self.topic_id})"


class ForeignTopic(Exception):
    """The aggregator's views topic is not the one its database counted: counting it would skip views."""

    def __init__(self, recorded: Source, current: Source) -> None:
        self.recorded, self.current = recorded, current
        what = "was recreated" if recorded.topic == current.topic else "is another topic"
        super().__init__(
            f"the views topic {current.describe()} {what}: this database counted {recorded.describe()}. The "
            "aggregator keeps its partitions paused (nothing is lost: the records wait in Kafka). Once the old "
            "topic's views are all counted (or gone), run `python -m viewstats.rebase` with this environment "
            "(README, 'Another views topic')."
        )


def check(recorded: Source, current: Source) -> None:
    """Raise :class:`ForeignTopic` unless ``current`` is the source the database recorded."""
    if recorded != current:
        raise ForeignTopic(recorded, current)
