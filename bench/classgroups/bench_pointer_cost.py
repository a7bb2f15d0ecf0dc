"""What an outbox pointer costs next to the group of check-ins it announces, on the store alone (session 20).

One writer, as ``common.group_insert`` writes: per iteration a group of 12 submission-like documents (700 bytes,
the shape ``checkin_submissions`` stores), in three modes alternating over two rounds: the group's ``insert_many``
alone; a pointer's insert, the group, the pointer's delete (a pointer per group); the pointer's insert and delete
alone. Reported: FerretDB's CPU (from ``/proc``, its pid file under ``SMARTEDU_STATE``) and this client's CPU per
iteration, and the wall time. Then PyMongo's own CPU for one ``ping`` round trip, the floor of any command.

    eval "$(deploy/local/infra.sh env admin)"   # with SMARTEDU_STATE and LOCAL_MONGO_PORT of the private infra
    MONGODB_URL=mongodb://127.0.0.1:$LOCAL_MONGO_PORT .cache/pyenv/bin/python bench/classgroups/bench_pointer_cost.py
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from pymongo import AsyncMongoClient

TICK = os.sysconf("SC_CLK_TCK")
GROUP, ITERATIONS = 12, 300
MODES = ("group only", "pointer + group + delete", "pointer insert + delete only")


def _cpu(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _submission(n: int) -> dict:
    task, student = uuid.uuid4().hex, f"u-{n:012x}"
    return {
        "_id": f"{task}:{student}:2026-12-04:v1",
        "task_id": task,
        "class_id": "cls-06b76b6f607341eb",
        "student_id": student,
        "submitted_by": student,
        "day": "2026-12-04",
        "version": 1,
        "timeliness": "on_time",
        "text": "扫地、擦桌子",
        "media": [
            {
                "key": f"checkins/cls/{task}/{student}/{uuid.uuid4().hex}.jpg",
                "kind": "photo",
                "content_type": "image/jpeg",
                "size": 677,
            }
        ],
        "submitted_at": datetime.now(UTC),
        "outbox": [
            {"id": str(uuid.uuid4()), "type": "cn.smartedu.classgroups.checkin.submitted.v1", "data": {}, "p": "x"}
        ],
    }


async def main(ferretdb: int) -> None:
    client = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = client[f"bench_{uuid.uuid4().hex[:6]}_pointers"]
    subs, pointers = db["subs"], db["outbox"]
    await subs.create_index([("task_id", 1), ("student_id", 1)])
    n = 0
    for _ in range(100):  # 10,000 documents already there, as after a morning of check-ins
        await subs.insert_many([_submission(n + k) for k in range(100)])
        n += 100
    try:
        for round_ in range(2):
            for mode in MODES:
                f0, c0, w0 = _cpu(ferretdb), time.thread_time(), time.monotonic()
                for _ in range(ITERATIONS):
                    docs = [_submission(n + k) for k in range(GROUP)]
                    n += GROUP
                    pointer = uuid.uuid4().hex
                    if mode != "group only":
                        ids = [d["_id"] for d in docs]
                        await pointers.insert_one(
                            {"_id": pointer, "c": "subs", "d": ids, "n": GROUP, "at": datetime.now(UTC)}
                        )
                    if mode != "pointer insert + delete only":
                        await subs.insert_many(docs, ordered=False)
                    if mode != "group only":
                        await pointers.delete_many({"_id": {"$in": [pointer]}})
                f1, c1, w1 = _cpu(ferretdb), time.thread_time(), time.monotonic()
                print(
                    f"round {round_} {mode:30s} ferretdb {1000 * (f1 - f0) / ITERATIONS:.2f} ms, "
                    f"client {1000 * (c1 - c0) / ITERATIONS:.2f} ms, "
                    f"wall {1000 * (w1 - w0) / ITERATIONS:.2f} ms per group"
                )
        c0 = time.thread_time()
        for _ in range(1000):
            await db.command("ping")
        print(f"PyMongo's CPU per ping round trip: {time.thread_time() - c0:.3f} ms")
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    uvloop.run(main(int(Path(os.environ["SMARTEDU_STATE"], "ferretdb.pid").read_text())))
