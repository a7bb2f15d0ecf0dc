"""Query latency of the view statistics API after a full replayed day (p50/p95/p99 and req/s per query kind).

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 MONGODB_URL=mongodb://127.0.0.1:37017 \\
        .cache/pyenv/bin/python bench/viewstats/bench_queries.py --views 1000000 --requests 300 --concurrency 8

The bench starts no Kafka or FerretDB: it uses the ones KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL name (else the
local defaults). Each run is isolated by a fresh views topic (``--partitions`` partitions), database prefix and
consumer group prefix, all dropped at the end (``--keep`` keeps them).

1. Replayed day: ``--views`` distinct views spread over YESTERDAY's Beijing day (``TrafficGenerator.views``:
   diurnal curve, Zipf popularity over ``--resources``, 2 % client retries), plus ``--today-share`` × that many
   over today's elapsed part (squeezed into [00:00, now)), produced in time order as the collector would have
   (its records and codec). The day is streamed and the expected answers tallied on the way, so a whole
   89.97-million-view day fits: ``--views 89970000 --aggregators 1``.
2. The real API (``uvicorn viewstats.app:create_app --factory``, aggregator inside, learning consumers off) is
   started on a free port; the replay time is from the process start until the aggregator's consumer group has
   committed the topic's end offsets. The popularity publisher is pushed out of the run (interval 10^9 s): it
   would publish the bench's synthetic resources to the platform's shared popularity topic. ``--aggregators N``
   starts N standalone aggregators (as deployed) in the same consumer group beside it.
3. Query kinds: platform totals; day series over 30 days; hour series of yesterday; top-10 of yesterday and of
   the current hour; views by province and unique visitors of yesterday (admin routes: a ministry_admin token the
   bench signs itself, served as a JWKS on a free port the API is pointed at: AUTH_JWKS_URL / AUTH_ISSUER /
   AUTH_AUDIENCE); the minute series of the last hour (the API's default) and of all 1,440 minutes of yesterday
   (last: a request the bench gave up on keeps the store busy). Each kind gets one unmeasured request whose
   answer is checked against the counts the bench produced (a ``check`` line; the day total is the distinct
   beacons of the day, retries excluded), then ``--requests`` requests at ``--concurrency``, stopping early (and
   saying so) after ``--budget-seconds``. A kind whose first request took so long that concurrent ones would time
   out (``--request-timeout``) is measured one request at a time, and says so.

The replay waits at most ``--replay-timeout``; then the run stops, or with ``--measure-partial`` measures the
partly replayed day anyway (the checks then fail, by design: they compare with the whole day).

Prints one JSON line per phase, per check and per query kind, then a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

import httpx  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from bench_aggregator import GroupWatch, produce_views  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import OKPKey  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from common.kafka import kafka_admin  # noqa: E402
from common.reference import BEIJING_OFFSET_MS  # noqa: E402
from deploy.local.traffic import TrafficGenerator  # noqa: E402
from viewstats.domain.beacon import View  # noqa: E402
from viewstats.domain.counters import NO_PROVINCE, local_minute, minute_label  # noqa: E402
from viewstats.settings import ViewstatsSettings  # noqa: E402

PYTHON = ROOT / ".cache/pyenv/bin/python"
ISSUER, AUDIENCE, KID = "https://id.bench.invalid", "smartedu-bench", "bench-k1"


def out(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def beijing_today() -> date:
    return date.fromisoformat(minute_label(local_minute(int(time.time() * 1000)))[2])


# --------------------------------------------------------------------------------------------- the replayed day


class Expected:
    """What the API must answer, tallied from the distinct beacons (a client retry repeats an event id)."""

    def __init__(self, yesterday: date, today: date) -> None:
        self.yesterday, self.today = yesterday.isoformat(), today.isoformat()
        self.records = 0
        self.per_day: Counter[str] = Counter()
        self.minutes: Counter[str] = Counter()  # minute label → views (both days)
        self.resources: Counter[str] = Counter()  # yesterday
        self.provinces: Counter[str] = Counter()  # yesterday
        self.visitors: set[str] = set()  # yesterday
        self.today_hour_resources: dict[str, Counter[str]] = {}

    def add(self, v: View) -> None:
        m, h, d = minute_label(local_minute(v.time_ms))
        self.per_day[d] += 1
        self.minutes[m] += 1
        if d == self.yesterday:
            self.resources[v.resource_id] += 1
            self.provinces[v.province or NO_PROVINCE] += 1
            self.visitors.add(v.visitor_id)
        elif d == self.today:
            self.today_hour_resources.setdefault(h, Counter())[v.resource_id] += 1

    def hours(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for m, n in self.minutes.items():
            if m.startswith(self.yesterday):
                out[m[:13]] += n
        return out


def day_views(args: argparse.Namespace, expected: Expected) -> Iterator[View]:
    """Yesterday's and today's views as the collector would have accepted them, in time order, streamed
    (``TrafficGenerator.views``: a whole day at full size is never held); ``expected`` is tallied from the
    distinct ones on the way. Today's curve is squeezed into [00:00, a minute ago)."""
    now_ms = int(time.time() * 1000)
    today = date.fromisoformat(expected.today)
    midnight_ms = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000) - BEIJING_OFFSET_MS
    squeeze = max(0.0, (now_ms - 60_000 - midnight_ms) / 86_400_000)
    gen = TrafficGenerator(resources=args.resources, visitors=args.visitors, duplicate_share=0.02, seed=args.seed)
    days = ((today - timedelta(days=1), args.views, None), (today, round(args.views * args.today_share), squeeze))
    for day, n, squeezed in days:
        top = -1  # event ids end in a counter (``views``): a retry repeats one at or below the highest seen
        for v in gen.views(day, n):
            if squeezed is not None:
                v = replace(v, time_ms=midnight_ms + int((v.time_ms - midnight_ms) * squeezed))
            expected.records += 1
            counter = int(v.event_id[24:], 16)
            if counter > top:
                top = counter
                expected.add(v)
            yield v


# --------------------------------------------------------------------------------------------- tokens


class Signer:
    """Signs access tokens the way identity does and serves the public key as a JWKS on a free port."""

    def __init__(self) -> None:
        self.key = OKPKey.generate_key("Ed25519", {"kid": KID, "use": "sig", "alg": "Ed25519"}, private=True)
        body = json.dumps({"keys": [self.key.as_dict(private=False)]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, sub: str, *roles: str, lifetime: int = 6 * 3600) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "jti": uuid.uuid4().hex, "iat": now}
        claims |= {"exp": now + lifetime, "roles": list(roles)}
        return jwt.encode({"alg": "Ed25519", "kid": KID, "typ": "at+jwt"}, claims, self.key, algorithms=["Ed25519"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------- the API process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(settings: ViewstatsSettings, jwks_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "libs"), str(ROOT / "services")]),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE_PREFIX": settings.mongodb_database_prefix,
        "KAFKA_CLIENT_PREFIX": settings.kafka_client_prefix,
        "VIEWSTATS_VIEWS_TOPIC": settings.views_topic,
        "VIEWSTATS_PARTITIONS": str(settings.partitions),
        "VIEWSTATS_RUN_AGGREGATOR": "true",
        "VIEWSTATS_RUN_LEARNING": "false",
        "VIEWSTATS_POPULARITY_INTERVAL_SECONDS": "1e9",
        "AUTH_JWKS_URL": jwks_url,
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "LOG_LEVEL": "WARNING",
    }


def start_api(settings: ViewstatsSettings, port: int, jwks_url: str, log_path: str) -> subprocess.Popen:
    env = service_env(settings, jwks_url)
    cmd = [str(PYTHON), "-m", "uvicorn", "viewstats.app:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_aggregators(settings: ViewstatsSettings, jwks_url: str, n: int) -> list[subprocess.Popen]:
    """``n`` standalone aggregators (``python -m viewstats.aggregator``, as deployed) in the API's consumer group:
    the replay is shared by partitions, one process per core; they stay up (idle) while the queries run."""
    env = service_env(settings, jwks_url)
    procs, logs = [], []
    for _ in range(n):
        fd, log_path = tempfile.mkstemp(prefix="bench-queries-aggregator-", suffix=".log")
        logs.append(log_path)
        with os.fdopen(fd, "wb") as log:
            procs.append(
                subprocess.Popen(
                    [str(PYTHON), "-m", "viewstats.aggregator"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
    if logs:
        out(phase="aggregators-started", logs=logs)
    return procs


def stop_api(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen, log_path: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}; see {log_path}")
        try:
            if (await client.get("/readyz", timeout=5)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the API was not ready within {limit_s:.0f} s; see {log_path}")


async def replay(
    settings: ViewstatsSettings, proc: subprocess.Popen, log_path: str, limit_s: float
) -> tuple[bool, int, int]:
    """Wait until the aggregator's group has committed every partition's end offset (Kafka's view) or ``limit_s``
    passed; returns (caught up, committed, records). Every 30 s a progress line with the counter documents."""
    group = settings.kafka_client_prefix + settings.aggregator_group
    watch = GroupWatch(group, settings.views_topic, settings.partitions)
    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    db = mongo[settings.database_name()]
    await watch.start()
    try:
        total, started, last_report, done = watch.total, time.monotonic(), time.monotonic(), 0
        while time.monotonic() - started < limit_s:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}; see {log_path}")
            done = await watch.committed()
            if done >= total:
                return True, done, total
            if time.monotonic() - last_report >= 30:
                docs = Counter()
                for c in await db.list_collection_names():
                    if c.startswith("counts_"):
                        docs[c.split("_")[1]] += await db[c].estimated_document_count()
                out(
                    phase="replay-progress", seconds=round(time.monotonic() - started), committed=done, of=total, **docs
                )
                last_report = time.monotonic()
            await asyncio.sleep(0.5)
        return False, done, total
    finally:
        await watch.stop()
        await mongo.close()


# --------------------------------------------------------------------------------------------- queries

Check = Callable[[dict[str, Any]], tuple[bool, dict[str, Any]]]


def query_kinds(e: Expected, admin_headers: dict[str, str]) -> list[tuple[str, str, dict[str, Any], dict, Check]]:
    y, t = e.yesterday, e.today
    total = sum(e.per_day.values())
    month_start = (date.fromisoformat(t) - timedelta(days=29)).isoformat()
    top10 = e.resources.most_common(10)

    def totals(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        got = {"all_time": a["all_time"], "today": a["today"], "range_views": a["range"]["views"]}
        want = {"all_time": total, "today": e.per_day.get(a["range"]["end"], 0), "range_views": total}
        if a["range"]["end"] != t:  # Beijing midnight passed during the run: "today" is a new, empty day
            want["range_views"] = sum(n for d, n in e.per_day.items() if d >= a["range"]["start"])
        return got == want, {"got": got, "want": want}

    def minutes(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        pts = a["points"]
        wrong = sum(p["views"] != e.minutes.get(p["t"], 0) for p in pts)
        got = {"points": len(pts), "views": sum(p["views"] for p in pts), "minutes_wrong": wrong}
        return got == {"points": 1440, "views": e.per_day[y], "minutes_wrong": 0}, {
            "got": got,
            "want_views": e.per_day[y],
        }

    def last_hour(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        pts = a["points"]
        wrong = sum(p["views"] != e.minutes.get(p["t"], 0) for p in pts)
        got = {"points": len(pts), "views": sum(p["views"] for p in pts), "minutes_wrong": wrong}
        return got["points"] == 61 and wrong == 0, {"got": got, "first": pts[0]["t"] if pts else None}

    def hours(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        want_h = e.hours()
        pts = a["points"]
        wrong = sum(p["views"] != want_h.get(p["t"], 0) for p in pts)
        got = {"points": len(pts), "views": sum(p["views"] for p in pts), "hours_wrong": wrong}
        return got == {"points": 24, "views": e.per_day[y], "hours_wrong": 0}, {"got": got, "want_views": e.per_day[y]}

    def days(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        pts = {p["t"]: p["views"] for p in a["points"]}
        got = {"points": len(pts), "yesterday": pts.get(y), "today": pts.get(t), "sum": sum(pts.values())}
        want = {"points": 30, "yesterday": e.per_day[y], "today": e.per_day[t], "sum": total}
        return got == want, {"got": got, "want": want}

    def top_day(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        got = [(r["resource_id"], r["views"]) for r in a["resources"]]
        ok = [n for _, n in got] == [n for _, n in top10] and all(e.resources[r] == n for r, n in got)
        return ok, {"got_first": got[:3], "want_first": top10[:3]}

    def top_hour(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        want = e.today_hour_resources.get(a["at"], Counter())
        got = [(r["resource_id"], r["views"]) for r in a["resources"]]
        ok = [n for _, n in got] == [n for _, n in want.most_common(10)] and all(want[r] == n for r, n in got)
        return ok, {"at": a["at"], "got_first": got[:3], "want_first": want.most_common(3)}

    def provinces(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        got = Counter(a["views"])
        return got == e.provinces, {"keys": len(got), "views": sum(got.values()), "want_views": e.per_day[y]}

    def uniques(a: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        est, exact = a["unique_visitors"], len(e.visitors)
        err = (est - exact) / exact if exact else 0.0
        return abs(err) <= 0.03, {"estimate": est, "exact": exact, "relative_error": round(err, 4)}

    minute_day = {"granularity": "m", "start": f"{y}T00:00", "end": f"{y}T23:59"}
    hour_day = {"granularity": "h", "start": f"{y}T00:00", "end": f"{y}T23:00"}
    day_month = {"granularity": "d", "start": f"{month_start}T00:00", "end": f"{t}T00:00"}
    return [  # the costly minute series last: a request the bench gave up on keeps the store busy
        ("totals", "/v1/stats/totals", {}, {}, totals),
        ("series_day_30", "/v1/stats/series", day_month, {}, days),
        ("series_hour_yesterday", "/v1/stats/series", hour_day, {}, hours),
        ("top10_yesterday", "/v1/stats/top", {"window": "day", "at": y, "n": 10}, {}, top_day),
        ("top10_current_hour", "/v1/stats/top", {"window": "hour", "n": 10}, {}, top_hour),
        ("provinces_yesterday", "/v1/stats/provinces", {"day": y}, admin_headers, provinces),
        ("uniques_yesterday", "/v1/stats/uniques", {"day": y}, admin_headers, uniques),
        ("series_minute_last_hour", "/v1/stats/series", {"granularity": "m"}, {}, last_hour),
        ("series_minute_yesterday", "/v1/stats/series", minute_day, {}, minutes),
    ]


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest rank."""
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


async def measure(
    client: httpx.AsyncClient, path: str, params: dict, headers: dict, requests: int, concurrency: int, budget: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    issued = 0
    started = time.perf_counter()
    deadline = started + budget

    async def worker() -> None:
        nonlocal issued
        while issued < requests and time.perf_counter() < deadline:
            issued += 1
            t = time.perf_counter()
            try:
                r = await client.get(path, params=params, headers=headers)
                if r.status_code != 200:
                    errors[str(r.status_code)] += 1
                    continue
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = sorted(latencies)
    row: dict[str, Any] = {"requests": len(lat), "concurrency": concurrency, "seconds": round(elapsed, 2)}
    if lat:
        row |= {
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(lat[-1], 1),
            "req_per_s": round(len(lat) / elapsed, 1),
        }
    if errors:
        row["errors"] = dict(errors)
    if issued < requests:
        row["stopped_by_budget"] = f"{issued} of {requests} issued within {budget:.0f} s"
    return row


# --------------------------------------------------------------------------------------------- main


async def cleanup(admin: AIOKafkaAdminClient, settings: ViewstatsSettings) -> None:
    """Drop the run's topic and database; say so, or say what is left."""
    left = []
    try:
        await admin.delete_topics([settings.views_topic])
    except Exception as exc:
        left.append(f"topic {settings.views_topic}: {exc!r}")
    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url)
    try:
        await mongo.drop_database(settings.database_name())
        if settings.database_name() in await mongo.list_database_names():
            left.append(f"database {settings.database_name()}: still listed after the drop")
    except Exception as exc:
        left.append(f"database {settings.database_name()}: {exc!r}")
    finally:
        await mongo.close()
    out(phase="cleanup", ok=not left, left=left)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=1_000_000, help="distinct beacons over yesterday")
    ap.add_argument("--today-share", type=float, default=0.1, help="plus this share of --views over today")
    ap.add_argument("--requests", type=int, default=300, help="measured requests per query kind")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--budget-seconds", type=float, default=180.0, help="stop issuing a kind's requests after this")
    ap.add_argument("--request-timeout", type=float, default=600.0, help="give up on one request after this")
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--resources", type=int, default=20_000)
    ap.add_argument("--visitors", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--replay-timeout", type=float, default=3600.0, help="give up waiting for the aggregator")
    ap.add_argument(
        "--measure-partial", action="store_true", help="after a replay timeout, measure what is there anyway"
    )
    ap.add_argument("--keep", action="store_true", help="keep the topic and the database")
    ap.add_argument(
        "--aggregators", type=int, default=0, help="standalone aggregator processes beside the API's own one"
    )
    args = ap.parse_args()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # type: ignore[union-attr]

    tag = uuid.uuid4().hex[:6]
    settings = ViewstatsSettings(
        views_topic=f"bench.viewstats.queries.{tag}",
        mongodb_database_prefix=f"benchq_{tag}_",
        kafka_client_prefix=f"benchq-{tag}-",
        partitions=args.partitions,
    )
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.views_topic
    out(phase="setup", topic=topic, database=settings.database_name(), kafka=bootstrap)

    admin = kafka_admin()
    await admin.start()
    await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    signer = Signer()
    fd, log_path = tempfile.mkstemp(prefix="bench-queries-api-", suffix=".log")
    os.close(fd)
    proc: subprocess.Popen | None = None
    aggregators: list[subprocess.Popen] = []
    today = beijing_today()
    expected = Expected(today - timedelta(days=1), today)
    summary: dict[str, Any] = {"views": args.views, "partitions": args.partitions, "aggregators": 1 + args.aggregators}
    try:
        t = time.perf_counter()
        await produce_views(topic, day_views(args, expected), settings.views_compression)
        produced_s = time.perf_counter() - t
        summary["records"] = expected.records
        out(
            phase="produced",
            records=expected.records,
            distinct=sum(expected.per_day.values()),
            per_day=dict(sorted(expected.per_day.items())),
            seconds=round(produced_s, 1),
            per_s=round(expected.records / produced_s),
        )

        port = free_port()
        started = time.perf_counter()
        proc = start_api(settings, port, signer.url, log_path)
        aggregators = start_aggregators(settings, signer.url, args.aggregators)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=args.request_timeout) as client:
            await wait_ready(client, proc, log_path, 120)
            ready_s = time.perf_counter() - started
            caught_up, committed, records = await replay(settings, proc, log_path, args.replay_timeout)
            replay_s = time.perf_counter() - started
            summary["replay"] = {
                "complete": caught_up,
                "records": records,
                "committed": committed,
                "seconds_from_process_start": round(replay_s, 1),
                "ready_after_s": round(ready_s, 1),
                "records_per_s": round(committed / replay_s),
            }
            out(phase="replayed", **summary["replay"], log=log_path)
            if not caught_up and not args.measure_partial:
                out(summary=summary)
                raise SystemExit(f"the aggregator did not catch up within {args.replay_timeout:.0f} s")

            headers = {"Authorization": f"Bearer {signer.token('bench-admin', 'ministry_admin')}"}
            results: dict[str, dict[str, Any]] = {}
            checks: dict[str, bool] = {}
            for name, path, params, hdrs, check in query_kinds(expected, headers):
                t = time.perf_counter()
                try:
                    r = await client.get(path, params=params, headers=hdrs)
                except httpx.TimeoutException:
                    checks[name] = False
                    out(check=name, ok=False, error=f"no answer within {args.request_timeout:.0f} s; not measured")
                    continue
                first_ms = round((time.perf_counter() - t) * 1000, 1)
                if r.status_code != 200:
                    checks[name] = False
                    out(check=name, ok=False, status=r.status_code, body=r.text[:300])
                    continue
                checks[name], detail = check(r.json())
                out(check=name, ok=checks[name], first_request_ms=first_ms, **detail)
                # A kind whose concurrent requests would only time out (each one waits for the others in the store)
                # is measured one request at a time instead, and says so.
                slow = first_ms / 1000 * args.concurrency > args.request_timeout / 2
                concurrency = 1 if slow else args.concurrency
                row = await measure(client, path, params, hdrs, args.requests, concurrency, args.budget_seconds)
                if slow:
                    row["note"] = f"first request took {first_ms / 1000:.0f} s: measured at concurrency 1"
                results[name] = row
                out(query=name, path=path, params=params, **row)
        summary |= {
            "checks_ok": all(checks.values()),
            "checks_failed": [n for n, ok in checks.items() if not ok],
            "queries": {
                n: {k: r.get(k) for k in ("requests", "concurrency", "p50_ms", "p95_ms", "p99_ms", "req_per_s")}
                for n, r in results.items()
            },
        }
        out(summary=summary)
    finally:
        for p in [*aggregators, *([proc] if proc is not None else [])]:
            stop_api(p)
        signer.close()
        if not args.keep:
            await cleanup(admin, settings)
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
