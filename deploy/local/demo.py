"""The demo dataset `make run` loads, through the services' public APIs as any client would:

1. identity: the demo ministry admin is made by the operator's one-time step (`python -m identity.bootstrap`, the
   same an operator runs on a fresh deployment) and logs in; a few demo students, teachers and parents register;
2. catalog: the generated national catalog (12 sections, 65 textbook versions, ~19,500 lessons, ~88,000
   resources) imported as JSONL with the admin's token: the same import operators use;
3. viewstats: a week of synthetic traffic over the catalog's resources, sent to the collector (each view at the
   start of its hour, see ``beacons``);
4. class groups: a demo school's administrative class with a roster, teachers, a notice, a leave request and
   evaluations, and an online class with a join code (deploy/local/demo_classgroups.py);
5. recommender: exercises in the catalog, the class's students with profiles and answered homework, so notebooks,
   mastery, reviews, recommendations and the head teacher's most-missed points show something
   (deploy/local/demo_recommender.py).

Each step is skipped when its data is already there, so a second `make run` is ready at once.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import demo_classgroups
import demo_recommender
import httpx
import orjson
from demo_catalog import write_jsonl  # this directory: demo.py runs as a script
from traffic import TrafficGenerator  # deploy/local/traffic.py, beside this script

from common.reference import BEIJING

ADMIN_PHONE = "13800000000"
DEMO_PASSWORD = "Zhihui-Jiaoyu-2026"  # demo accounts only; printed by `make run`
IMPORT_LINES = 10_000  # lines per import request: large enough to keep the store busy, small enough to stream


def log(message: str) -> None:
    print(f"  {message}", flush=True)


def bootstrap_admin() -> None:
    """The first ministry admin, by the operator's one-time step (it refuses once one exists)."""
    done = subprocess.run(
        [sys.executable, "-m", "identity.bootstrap", "--phone", ADMIN_PHONE, "--real-name", "演示管理员"],
        env={**os.environ, "IDENTITY_BOOTSTRAP_PASSWORD": DEMO_PASSWORD},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m identity.bootstrap failed: {done.stderr.strip()[-500:]}")


def admin_token(identity: str) -> str:
    with httpx.Client(base_url=identity, timeout=60) as http:
        login = {"identifier": ADMIN_PHONE, "password": DEMO_PASSWORD}
        r = http.post("/v1/sessions", json=login)
        if r.status_code == 401:  # a fresh store: no admin yet
            bootstrap_admin()
            r = http.post("/v1/sessions", json=login)
        r.raise_for_status()
        for i, kind in enumerate(["student", "student", "teacher", "parent"]):
            http.post(
                "/v1/accounts",
                json={
                    "email": f"demo{i}@demo.smartedu.local",
                    "password": DEMO_PASSWORD,
                    "real_name": f"演示{i}",
                    "kind": kind,
                },
            )
        return r.json()["access_token"]


def load_catalog(catalog: str, token: str) -> int:
    with httpx.Client(base_url=catalog, timeout=600, headers={"Authorization": f"Bearer {token}"}) as http:
        total = http.get("/v1/resources", params={"limit": 1, "facets": "false"}).json()["total"]
        if total:
            log(f"catalog already holds {total} published resources: import skipped")
            return total
        buf = io.BytesIO()
        write_jsonl(buf)
        lines = buf.getvalue().splitlines()
        t0 = time.monotonic()
        created = 0
        for start in range(0, len(lines), IMPORT_LINES):
            body = b"\n".join(lines[start : start + IMPORT_LINES])
            r = http.post("/v1/import", content=body, headers={"Content-Type": "application/x-ndjson"})
            r.raise_for_status()
            report = r.json()
            created += report.get("created", 0)
            if report.get("errors"):
                log(f"import reported {len(report['errors'])} bad lines, first: {report['errors'][0]}")
            log(f"catalog import: {min(start + IMPORT_LINES, len(lines))}/{len(lines)} lines")
        log(f"catalog: {created} resources imported in {time.monotonic() - t0:.1f} s")
        return created


def catalog_resources(catalog: str, limit: int) -> list[tuple[str, str]]:
    """(id, section) of the newest published resources: the traffic's popularity ranks."""
    out: list[tuple[str, str]] = []
    with httpx.Client(base_url=catalog, timeout=30) as http:
        cursor = None
        while len(out) < limit:
            params = {"limit": 100, "facets": "false", **({"cursor": cursor} if cursor else {})}
            page = http.get("/v1/resources", params=params).json()
            out += [(i["id"], i["section"]) for i in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return out[:limit]


def beacons(resources: list[tuple[str, str]], per_day: int, days: int) -> Iterator[dict]:
    gen = TrafficGenerator(resources=len(resources), seed=7)
    real = {f"res-{i:06d}": r for i, r in enumerate(resources)}
    today = datetime.now(BEIJING).date()  # the platform's day is China's day
    now_ms = int(time.time() * 1000)
    for back in range(days - 1, -1, -1):
        # weekends and the last day are busier: the dashboard's "peak day" has something to show
        n = per_day * (3 if back == 0 else 1) // (1 if (today - timedelta(back)).weekday() < 5 else 2)
        for b in gen.day(today - timedelta(days=back), n):
            if b["time"] > now_ms:  # today's traffic so far: the collector rejects beacons from the future
                continue
            resource, section = real[b["resource_id"]]  # (a retried beacon is the same object: copy, never mutate)
            # Past traffic lands on the hour it belongs to, at its first minute: the hourly and daily figures keep
            # their shape, and the aggregator writes 24 minute shards a day instead of 1,440 (each a scanning
            # update on FerretDB's SQLite backend; on MongoDB this would not matter).
            hour_start = b["time"] - b["time"] % 3_600_000
            yield {**b, "resource_id": resource, "section": section, "time": hour_start}


def load_views(viewstats: str, collector: str, catalog: str, per_day: int, days: int) -> None:
    with httpx.Client(timeout=60) as http:
        totals = http.get(f"{viewstats}/v1/stats/totals").json()
        if totals.get("all_time", 0) > 0:
            log(f"viewstats already counted {totals['all_time']} views: traffic skipped")
            return
        resources = catalog_resources(catalog, 2000)
        if not resources:
            log("no published resources: traffic skipped")
            return
        t0, sent = time.monotonic(), 0
        stream = beacons(resources, per_day, days)
        while batch := list(itertools.islice(stream, 1000)):
            r = http.post(
                f"{collector}/v1/views", content=orjson.dumps(batch), headers={"Content-Type": "application/json"}
            )
            if r.status_code != 202:
                raise RuntimeError(f"the collector answered {r.status_code}: {r.text[:500]}")
            sent += len(batch)
        log(f"viewstats: {sent} view beacons sent in {time.monotonic() - t0:.1f} s (duplicates included)")


def main() -> int:
    p = argparse.ArgumentParser(prog="deploy/local/demo.py")
    p.add_argument("--identity", default="http://127.0.0.1:8102")
    p.add_argument("--catalog", default="http://127.0.0.1:8101")
    p.add_argument("--viewstats", default="http://127.0.0.1:8103")
    p.add_argument("--collector", default="http://127.0.0.1:8113")
    p.add_argument("--classgroups", default="http://127.0.0.1:8105")
    p.add_argument("--recommender", default="http://127.0.0.1:8104")
    p.add_argument("--views-per-day", type=int, default=20_000)
    p.add_argument("--days", type=int, default=8)
    a = p.parse_args()
    token = admin_token(a.identity)
    log(f"identity: ministry admin {ADMIN_PHONE} (password {DEMO_PASSWORD}) and 4 demo accounts")
    load_catalog(a.catalog, token)
    load_views(a.viewstats, a.collector, a.catalog, a.views_per_day, a.days)
    demo_classgroups.load(a.identity, a.classgroups, token)
    demo_recommender.load(a.identity, a.catalog, a.recommender, token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
