"""CPU seconds by process (and by thread of the service) over the middle of a load phase, from ``/proc``: what one
request costs each component when every one of them shares the machine (the session-12 method, made repeatable).

``CpuWindow(service_pid, state_dir).during(seconds)`` returns a thread that snapshots after a quarter of the phase and
again after three quarters; ``per_request(rate)`` then gives milliseconds of CPU per request by component. The
private infrastructure's processes are found through the pid files of ``deploy/local/infra.sh`` (and their
descendants), wrk by its name.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _ticks(stat_path: str) -> int:
    try:
        text = Path(stat_path).read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat(5))


# the columns of /proc/stat's first line, machine-wide (proc(5)): whether the machine had a core to spare
MACHINE = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _machine() -> dict[str, int]:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return {f"machine: {name}": int(value) for name, value in zip(MACHINE, fields, strict=False)}


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            out.setdefault(ppid, []).append(int(entry))
    return out


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _comm(pid: int, tid: int | None = None) -> str:
    path = f"/proc/{pid}/task/{tid}/comm" if tid else f"/proc/{pid}/comm"
    try:
        return Path(path).read_text().strip()
    except OSError:
        return "?"


class CpuWindow:
    def __init__(self, service_pid: int, state_dir: str | None) -> None:
        self.service_pid = service_pid
        self.infra: dict[str, int] = {}
        for name in ("ferretdb", "seaweedfs", "kafka"):
            pid_file = Path(state_dir or "") / f"{name}.pid"
            if state_dir and pid_file.exists():
                self.infra[name] = int(pid_file.read_text().strip())
        self.snaps: list[tuple[float, dict[str, int]]] = []

    def snapshot(self) -> dict[str, int]:
        children = _children()
        out: dict[str, int] = {}
        # the service: its main thread apart from its other threads (named by their comm: tokio, pymongo...)
        for p in _tree(self.service_pid, children):
            tasks = os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []
            for tid in tasks:
                t = int(tid)
                name = "service: main thread" if t == p else f"service: {_comm(p, t)} threads"
                out[name] = out.get(name, 0) + _ticks(f"/proc/{p}/task/{tid}/stat")
        for name, pid in self.infra.items():
            out[name] = sum(_ticks(f"/proc/{p}/stat") for p in _tree(pid, children))
        out.update(_machine())
        out["wrk"] = sum(_ticks(f"/proc/{p}/stat") for p in _tree(os.getpid(), children) if _comm(p) == "wrk")
        return out

    def mark(self) -> None:
        """One end of the window (``per_request`` reads the window between the first two marks)."""
        self.snaps.append((time.monotonic(), self.snapshot()))

    def during(self, seconds: float, signals: bool = False) -> threading.Thread:
        """``signals``: also SIGUSR1/SIGUSR2 to the service as the window opens/closes (``profiled.py``)."""

        def run() -> None:
            time.sleep(seconds / 4)
            if signals:
                os.kill(self.service_pid, signal.SIGUSR1)
            self.mark()
            time.sleep(seconds / 2)
            self.mark()
            if signals:
                os.kill(self.service_pid, signal.SIGUSR2)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def per_request(self, rate: float) -> dict[str, float]:
        """Milliseconds of CPU per request by component (``rate``: requests/s over the phase), and the share of
        the machine each used, over the window between the two snapshots."""
        (t0, a), (t1, b) = self.snaps
        window = t1 - t0
        requests = rate * window
        out: dict[str, float] = {"window_s": round(window, 2)}
        total = 0.0
        for name in sorted(b):
            seconds = (b[name] - a.get(name, 0)) / TICK
            if name.startswith("machine: "):
                out[f"{name} cores"] = round(seconds / window, 2)  # what the whole machine did, not summed
                continue
            if seconds <= 0:
                continue
            out[f"{name} ms"] = round(seconds * 1000 / requests, 3)
            total += seconds
        out["total ms"] = round(total * 1000 / requests, 3)
        out["cpu_cores_used"] = round(total / window, 2)
        return out
