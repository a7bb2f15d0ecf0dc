"""Item-item collaborative filtering with ``implicit`` (cosine over the user × resource interaction matrix),
retrained in a worker thread every ``RECOMMENDER_RETRAIN_SECONDS`` when interactions changed. Requests read the
last trained model and never wait for training: a new model replaces the old one in one assignment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.domain.behaviour import Behaviour

log = logging.getLogger("recommender.cf")


@dataclass(frozen=True)
class Trained:
    items: list[str]
    index: dict[str, int]
    model: object | None

    def similar(self, rid: str, n: int) -> list[str]:
        i = self.index.get(rid)
        if i is None or self.model is None:
            return []
        ids, scores = self.model.similar_items(i, N=n + 1)
        return [self.items[j] for j, s in zip(ids, scores, strict=True) if j != i and s > 0][:n]


def train(pairs: list[tuple[str, str]]) -> Trained:
    from implicit.nearest_neighbours import CosineRecommender

    users = {u: i for i, u in enumerate(sorted({u for u, _ in pairs}))}
    items = sorted({r for _, r in pairs})
    index = {r: i for i, r in enumerate(items)}
    if not pairs:
        return Trained([], {}, None)
    rows = np.fromiter((users[u] for u, _ in pairs), dtype=np.int32, count=len(pairs))
    cols = np.fromiter((index[r] for _, r in pairs), dtype=np.int32, count=len(pairs))
    matrix = csr_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    model = CosineRecommender(K=50)
    model.fit(matrix, show_progress=False)
    return Trained(items, index, model)


class CoViews:
    def __init__(self, behaviour: Behaviour, every: float) -> None:
        self.behaviour, self.every = behaviour, every
        self.current = Trained([], {}, None)
        self.trained_at_change = -1
        self._task: asyncio.Task[None] | None = None

    def similar(self, rid: str, n: int) -> list[str]:
        return self.current.similar(rid, n)

    async def retrain(self) -> bool:
        """Train on a snapshot of the interactions, off the event loop; False when nothing changed."""
        change = self.behaviour.changed
        if change == self.trained_at_change:
            return False
        pairs = list(self.behaviour.pairs)
        t0 = time.perf_counter()
        self.current = await asyncio.to_thread(train, pairs)
        self.trained_at_change = change
        log.info("item-item model retrained on %d interactions in %.2f s", len(pairs), time.perf_counter() - t0)
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="recommender-cf")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.retrain()
            except Exception:
                log.exception("item-item retraining failed; the previous model stays")
