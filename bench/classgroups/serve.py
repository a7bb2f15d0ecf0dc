"""The service as the benchmark's wrappers run it (``profiled.py``, ``commands.py``, ``gc_timed.py``): one uvicorn
process in this one, as ``bench_classgroups.py`` starts it without a wrapper."""

from __future__ import annotations

import uvicorn


def serve(port: int) -> None:
    uvicorn.run("classgroups.app:create_app", factory=True, port=port, log_level="warning", access_log=False)
