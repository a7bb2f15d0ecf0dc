"""Offline IP → province lookup (IP 归属地), from a CIDR table shipped with the service.

``data/ip_provinces.tsv`` is ILLUSTRATIVE: a synthetic table in the shape of CNNIC/APNIC allocations
(a few blocks per provincial-level division inside address ranges allocated to China) made for tests and
load generation. Production replaces the file with a licensed table of the same format
(``<cidr>\\t<province code>``, one block per line, ``#`` comments); nothing else changes.
Lookup is a binary search over the sorted block starts: O(log n), no I/O, IPv4 only (IPv6 → unknown).
"""

from __future__ import annotations

import ipaddress
import itertools
from bisect import bisect_right
from pathlib import Path

from common.reference import province_code

DEFAULT_TABLE = Path(__file__).parent / "data" / "ip_provinces.tsv"


class ProvinceTable:
    def __init__(self, blocks: list[tuple[int, int, str]]) -> None:
        blocks = sorted(blocks)
        for (_s1, e1, _), (s2, _e2, _) in itertools.pairwise(blocks):
            if s2 <= e1:
                raise ValueError(f"overlapping blocks at {ipaddress.IPv4Address(s2)}")
        self._starts = [b[0] for b in blocks]
        self._ends = [b[1] for b in blocks]
        self._codes = [b[2] for b in blocks]

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str) -> ProvinceTable:
        blocks = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            cidr, code = line.split()
            if province_code(code) != code:  # the table names provinces by GB/T 2260 code only
                raise ValueError(f"line {n}: unknown province code {code}")
            net = ipaddress.IPv4Network(cidr)
            blocks.append((int(net.network_address), int(net.broadcast_address), code))
        return cls(blocks)

    @classmethod
    def load(cls, path: Path = DEFAULT_TABLE) -> ProvinceTable:
        return cls.parse(path.read_text(encoding="utf-8"))

    def lookup(self, ip: str) -> str | None:
        """Province code of an IPv4 address, or None (abroad, private, IPv6, malformed)."""
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return None
        i = bisect_right(self._starts, value) - 1
        if i >= 0 and value <= self._ends[i]:
            return self._codes[i]
        return None

    def provinces(self) -> set[str]:
        return set(self._codes)

    def sample_ip(self, code: str, n: int = 0) -> str:
        """An address inside the ``n``-th block of a province (for tests and the traffic generator)."""
        blocks = [i for i, c in enumerate(self._codes) if c == code]
        i = blocks[n % len(blocks)]
        size = max(1, self._ends[i] - self._starts[i] - 1)
        return str(ipaddress.IPv4Address(self._starts[i] + 1 + (n * 7919) % size))
