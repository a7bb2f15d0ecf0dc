"""The service, one uvicorn process, with a PyMongo ``CommandListener`` counting what it asks the store
(``bench_classgroups.py --commands PATH``): per (command, collection) the number of commands and their summed
duration, written as JSON when uvicorn returns (SIGTERM). It shows which reads and writes a request costs."""

from __future__ import annotations

import json
import signal
import sys
from collections import defaultdict
from typing import Any

from pymongo import monitoring

from bench.classgroups.serve import serve


class Counter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.counts: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def started(self, event: monitoring.CommandStartedEvent) -> None:  # type: ignore[override]
        target = event.command.get(event.command_name)
        self.names[event.request_id] = f"{event.command_name} {target if isinstance(target, str) else ''}".strip()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:  # type: ignore[override]
        self._done(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:  # type: ignore[override]
        self._done(event)

    def _done(self, event: Any) -> None:
        name = self.names.pop(event.request_id, event.command_name)
        self.counts[name][0] += 1
        self.counts[name][1] += event.duration_micros / 1000


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    counter = Counter()
    monitoring.register(counter)
    # uvicorn re-raises the SIGTERM it caught once it has shut down, under the handler it found: a no-op one lets
    # ``uvicorn.run`` return, so that the stats are written
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        serve(port)
    finally:
        report = {k: {"n": int(n), "ms": round(ms, 1)} for k, (n, ms) in sorted(counter.counts.items())}
        with open(out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
