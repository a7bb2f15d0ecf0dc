"""Per-resource popularity (热度) for catalog's "hot" lists and the recommender.

The aggregator keeps, per partition it owns, the per-resource counts of the last two hours by minute and of
the last 25 hours by hour: exactly what its flushes added to the counter shards (so, exact as they are). When
it gets a partition it seeds the hours from the hour shards; per-resource counts by minute are not stored, so
for the next two hours the last 60 minutes are estimated from the hours (:meth:`PopularityWindow.seed`).
Every ``popularity_interval_seconds`` it publishes, for the resources whose figures changed, views in the
last 60 minutes, views in the current and 23 previous hours, and a trend: the last 60 minutes against the 60
before.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from viewstats.domain.counters import minute_label

Trend = Literal["rising", "steady", "falling"]
HOUR_MINUTES = 60
DAY_HOURS = 24
RISING, FALLING = 1.25, 0.8
NOISE_FLOOR = 5  # fewer views than this in both hours: no trend worth reporting


def trend(last_hour: int, hour_before: int) -> Trend:
    if max(last_hour, hour_before) < NOISE_FLOOR:
        return "steady"
    if last_hour >= hour_before * RISING:
        return "rising"
    if last_hour <= hour_before * FALLING:
        return "falling"
    return "steady"


def minute_labels(minute: int, n: int) -> list[str]:
    """Labels of the ``n`` Beijing-time minutes ending with ``minute``, newest first."""
    return [minute_label(minute - i)[0] for i in range(n)]


def hour_labels(minute: int, n: int) -> list[str]:
    """Labels of the ``n`` hours ending with the hour of ``minute``, newest first."""
    return [minute_label(minute - 60 * i)[1] for i in range(n)]


class PopularityWindow:
    """Recent per-resource counts of one partition: ``minutes[label]`` and ``hours[label]`` → resource → views."""

    def __init__(self) -> None:
        self.minutes: dict[str, Counter[str]] = {}
        self.hours: dict[str, Counter[str]] = {}

    def add(self, counts: dict[str, dict[str, Counter[str]]], now_minute: int) -> None:
        """Take the per-resource counts of a flush's tally (documents ``m:<minute>`` and ``h:<hour>``). Buckets
        already out of the window at Beijing ``now_minute`` are not kept: an aggregator catching up on a past day
        would otherwise hold that day's per-resource counts of every minute until its next :meth:`snapshot`."""
        oldest_minute = minute_labels(now_minute, 2 * HOUR_MINUTES)[-1]
        oldest_hour = hour_labels(now_minute, DAY_HOURS + 1)[-1]
        for key, dims in counts.items():
            if "res" not in dims:
                continue
            if key[0] == "m" and key[2:] >= oldest_minute:
                self.minutes.setdefault(key[2:], Counter()).update(dims["res"])
            elif key[0] == "h" and key[2:] >= oldest_hour:
                self.hours.setdefault(key[2:], Counter()).update(dims["res"])

    def seed(self, minute: int, hours: dict[str, Counter[str]]) -> None:
        """Start from the stored hours. The minutes are estimated from them: the last 60 minutes as the current
        hour so far plus the part of the previous hour still inside them (pro rata), the 60 before likewise;
        put on the current minute and the one 60 minutes before, they leave the window within two hours."""
        self.hours = dict(hours)
        current, previous, earlier = (hours.get(label, Counter()) for label in hour_labels(minute, 3))
        elapsed = (minute % HOUR_MINUTES) / HOUR_MINUTES
        last = {r: current[r] + round(previous[r] * (1 - elapsed)) for r in set(current) | set(previous)}
        before = {r: round(previous[r] * elapsed + earlier[r] * (1 - elapsed)) for r in set(previous) | set(earlier)}
        self.minutes = {
            minute_label(minute)[0]: +Counter(last),
            minute_label(minute - HOUR_MINUTES)[0]: +Counter(before),
        }

    def snapshot(self, minute: int) -> dict[str, tuple[int, int, int]]:
        """resource → (views last hour, views the hour before, views last day) as of Beijing ``minute``;
        forgets buckets that left the window."""
        recent = minute_labels(minute, 2 * HOUR_MINUTES)
        day = hour_labels(minute, DAY_HOURS + 1)
        self.minutes = {k: v for k, v in self.minutes.items() if k in set(recent)}
        self.hours = {k: v for k, v in self.hours.items() if k in set(day)}
        last, before, daily = Counter[str](), Counter[str](), Counter[str]()
        for i, label in enumerate(recent):
            (last if i < HOUR_MINUTES else before).update(self.minutes.get(label, {}))
        for label in day[:DAY_HOURS]:
            daily.update(self.hours.get(label, {}))
        return {r: (last[r], before[r], daily[r]) for r in set(last) | set(before) | set(daily)}
