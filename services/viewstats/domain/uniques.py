"""Unique visitors per day (独立访客) with Apache DataSketches HLL.

One sketch per (day, scope) per partition: scope ``all`` (the platform), ``prov:<code>``, ``res:<id>``.
Adding a visitor twice changes nothing, so replaying beacons after a crash is harmless for sketches,
and the sketches of the partitions are merged with an HLL union at query time (a visitor seen on two
partitions counts once). Relative error ≈ 1.04/sqrt(2^lg_k): 0.8 % for the platform (lg_k 14),
1.6 % per province (lg_k 12), 6.5 % per resource (lg_k 8, many of them).
"""

from __future__ import annotations

from collections.abc import Iterable

from datasketches import hll_sketch, hll_union, tgt_hll_type

LG_K = {"all": 14, "prov": 12, "res": 8}
TYPE = tgt_hll_type.HLL_4


def scope_kind(scope: str) -> str:
    return scope.split(":", 1)[0]


class DailyUniques:
    """The sketches one partition owner holds; ``dirty`` lists the (day, kind) groups changed since the last
    flush. A group is stored as one document, so a flush writes every sketch of a dirty group."""

    def __init__(self) -> None:
        self.sketches: dict[tuple[str, str], hll_sketch] = {}
        self.dirty: set[tuple[str, str]] = set()

    def _sketch(self, day: str, scope: str) -> hll_sketch:
        s = self.sketches.get((day, scope))
        if s is None:
            s = self.sketches[(day, scope)] = hll_sketch(LG_K[scope_kind(scope)], TYPE)
        return s

    def load(self, day: str, scope: str, blob: bytes) -> None:
        """Merge a stored sketch in (at partition assignment, or the first time a flush touches a day)."""
        s = self._sketch(day, scope)
        u = hll_union(LG_K[scope_kind(scope)])
        u.update(s)
        u.update(hll_sketch.deserialize(blob))
        self.sketches[(day, scope)] = u.get_result(TYPE)

    def add(self, day: str, visitor: str, resource: str, province: str | None) -> None:
        sketch = self._sketch
        sketch(day, "all").update(visitor)
        sketch(day, f"res:{resource}").update(visitor)
        self.dirty.add((day, "all"))
        self.dirty.add((day, "res"))
        if province:
            sketch(day, f"prov:{province}").update(visitor)
            self.dirty.add((day, "prov"))

    def take_dirty(self) -> set[tuple[str, str]]:
        out, self.dirty = self.dirty, set()
        return out

    def serialize(self, groups: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, bytes]]:
        """(day, kind) → value → compact sketch bytes, for every sketch of the given groups."""
        out: dict[tuple[str, str], dict[str, bytes]] = {g: {} for g in groups}
        for (day, scope), s in self.sketches.items():
            kind, _, value = scope.partition(":")
            group = out.get((day, kind))
            if group is not None:
                group[value or "all"] = s.serialize_compact()
        return out

    def drop_days_before(self, day: str) -> None:
        self.sketches = {k: s for k, s in self.sketches.items() if k[0] >= day}


def merged_estimate(blobs: Iterable[bytes], lg_k: int = 14) -> int:
    u = hll_union(lg_k)
    for b in blobs:
        u.update(hll_sketch.deserialize(b))
    return round(u.get_estimate())
