"""The media check's read alone: ``ObjectStore.inspect`` (one ranged GET: size, stored type, first bytes) of
distinct objects, 32 at once, against the private test infra's SeaweedFS; CPU per read by process and thread
(``cpu.CpuWindow``, with this process as the service: its event-loop thread, and SeaweedFS).
What a check-in's photo costs every process, without the rest of the submission.

    eval "$(deploy/local/infra.sh env s3)"
    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/classgroups/bench_media_get.py [--objects 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import time
import uuid

from bench.classgroups.bench_classgroups import jpeg, s3_client
from bench.classgroups.cpu import CpuWindow
from classgroups.media import ObjectStore

BUCKET = "bench-media-get"


def put_objects(n: int) -> list[str]:
    s3 = s3_client(16)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    photos = [jpeg(i) for i in range(16)]
    keys = [f"checkins/{uuid.uuid4().hex}.jpg" for _ in range(n)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=photos[hash(k) % 16], ContentType="image/jpeg"),
                keys,
            )
        )
    return keys


async def read_all(keys: list[str], concurrency: int) -> dict[str, float]:
    store = ObjectStore(
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        public_endpoint_url=None,
        access_key_id=os.environ["S3_ACCESS_KEY_ID"],
        secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
        region=os.environ.get("S3_REGION", "us-east-1"),
        bucket=BUCKET,
        create_bucket=False,
    )
    warm, measured = keys[:50], keys[50:]
    for key in warm:
        await store.inspect(key)
    pending = iter(measured)

    async def reader() -> None:
        for key in pending:
            if await store.inspect(key) is None:
                raise SystemExit(f"{key} is missing")

    # this process is the "service" of the window (the read runs on its event-loop thread)
    window = CpuWindow(os.getpid(), os.environ.get("SMARTEDU_STATE", ".cache/test-state"))
    window.mark()
    started = time.monotonic()
    await asyncio.gather(*(reader() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    window.mark()
    return {
        "reads": len(measured),
        "reads_per_s": round(len(measured) / elapsed),
        **window.per_request(len(measured) / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rounds = [asyncio.run(read_all(put_objects(args.objects), args.concurrency)) for _ in range(args.repeats)]
    print(json.dumps({"objects": args.objects, "concurrency": args.concurrency, "rounds": rounds}))


if __name__ == "__main__":
    main()
