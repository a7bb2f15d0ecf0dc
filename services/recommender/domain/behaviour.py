"""What users did, from viewstats' events: who viewed what (and when), how long they watched, what they finished,
and views by province for popularity. Pure state; ``recommender/behaviour.py`` feeds it."""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from recommender.domain.candidates import Pool

RECENT_VIEWS = 20  # per user: the ones "because you watched" draws from
ANONYMOUS = "anon:"


@dataclass
class Behaviour:
    finished_share: float = 0.9
    watched: dict[str, dict[str, int]] = field(default_factory=dict)  # user → resource → seconds
    recent: dict[str, OrderedDict[str, datetime]] = field(default_factory=dict)  # user → resource → last view
    finished: dict[str, set[str]] = field(default_factory=dict)
    views_by_province: dict[str, Counter[str]] = field(default_factory=dict)  # "*" is everywhere
    pairs: set[tuple[str, str]] = field(default_factory=set)  # (user, resource) interactions, for item-item CF
    changed: int = 0  # bumps on every new interaction (the CF trainer retrains when it moved)
    ranking_seconds: float = 1.0  # a province's popularity order is re-sorted at most this often
    _ranked: dict[str, tuple[float, list[str]]] = field(default_factory=dict)

    def ranked(self, province: str, now: float) -> list[str]:
        """Resources by views in the province ("*": everywhere), most viewed first. Sorting every request cost
        more than the rest of a page; the order is kept ``ranking_seconds`` (``now``: a monotonic clock)."""
        at, order = self._ranked.get(province, (float("-inf"), []))
        if now - at >= self.ranking_seconds:
            counts = self.views_by_province.get(province, {})
            order = [rid for rid, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
            self._ranked[province] = (now, order)
        return order

    def view(self, visitor: str, rid: str, province: str | None, at: datetime, pool: Pool) -> bool:
        """Record a view; True when it finished the resource (a resource without a duration, a document or a
        link, is consumed by opening it)."""
        for p in ("*", province) if province else ("*",):
            self.views_by_province.setdefault(p, Counter())[rid] += 1
        if visitor.startswith(ANONYMOUS):
            return False
        recent = self.recent.setdefault(visitor, OrderedDict())
        recent.pop(rid, None)
        recent[rid] = at
        while len(recent) > RECENT_VIEWS:
            recent.popitem(last=False)
        self.pairs.add((visitor, rid))
        self.changed += 1
        c = pool.get(rid)
        if c is not None and not c.duration_seconds and c.kind in ("document", "courseware", "external_link"):
            return self.finish(visitor, rid)
        return False

    def heartbeat(self, user: str, rid: str, seconds: int, pool: Pool) -> bool:
        """Add watch time; True when it finished the resource (watched ``finished_share`` of its duration)."""
        total = self.watched.setdefault(user, {}).get(rid, 0) + seconds
        self.watched[user][rid] = total
        self.pairs.add((user, rid))
        self.changed += 1
        c = pool.get(rid)
        if c is not None and c.duration_seconds and total >= self.finished_share * c.duration_seconds:
            return self.finish(user, rid)
        return False

    def finish(self, user: str, rid: str) -> bool:
        done = self.finished.setdefault(user, set())
        if rid in done:
            return False
        done.add(rid)
        self.pairs.add((user, rid))
        self.changed += 1
        return True

    def finished_by(self, user: str) -> set[str]:
        return self.finished.get(user, set())

    def last_viewed(self, user: str) -> list[str]:
        return list(reversed(self.recent.get(user, OrderedDict())))
