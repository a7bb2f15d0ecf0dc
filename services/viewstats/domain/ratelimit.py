"""A bounded token bucket per client address, held in memory by each collector replica.

Each replica limits on its own (``rate`` and ``burst`` are per replica, so the platform's limit for one address
is about ``replicas × rate``): beacons are anonymous and cheap to count, so the aim is that one address cannot
flood Kafka and the aggregators, not an exact global quota, and a shared store on the hottest endpoint would
cost more than it protects. Memory is bounded: at most ``max_clients`` buckets, the least recently seen
forgotten first (a forgotten address starts again with a full bucket, which only an attacker holding more
addresses than that could exploit, and they could spread their load anyway). IPv6 clients are bucketed by
their /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict


def client_key(ip: str | None) -> str:
    """The bucket of an address: itself for IPv4, its /64 for IPv6, ``unknown`` without one."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    """``rate`` tokens a second per key, up to ``burst``. A request is admitted while its key's bucket is
    positive and then charged what it carried (a batch may drive the bucket into debt, repaid at ``rate``)."""

    def __init__(self, rate: float, burst: float, max_clients: int) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    def admit(self, key: str, now: float) -> float | None:
        """None if the key may send now, else the seconds until it may (for ``Retry-After``)."""
        tokens = self._refill(key, now)
        if tokens >= 1:
            return None
        return (1 - tokens) / self.rate

    def charge(self, key: str, n: float, now: float) -> None:
        tokens = self._refill(key, now)
        self._buckets[key] = (max(tokens - n, -self.burst), now)

    def _refill(self, key: str, now: float) -> float:
        found = self._buckets.pop(key, None)
        tokens = self.burst if found is None else min(self.burst, found[0] + (now - found[1]) * self.rate)
        self._buckets[key] = (tokens, now)  # most recently seen last
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return tokens

    def __len__(self) -> int:
        return len(self._buckets)
