"""Class groups under load, the service as uvicorn process(es) on the real Kafka, FerretDB and object store of the
private test infra, with ``/healthz`` of the same process(es) in the same run as the floor:

1. **check-in submissions** (``POST /v1/classes/{c}/checkin-tasks/{t}/submissions``: text and one JPEG each, the
   JPEGs uploaded to the object store beforehand) under ``wrk``, every request a new (task, student, day);
2. **class roster reads** (``GET /v1/classes/{c}/members``, a 60-student class, as its head teacher) under ``wrk``;
3. **the course burst**: 500 selections at once (500 students) into a 30-seat after-school course; per selection the
   time from sending it until its outcome (seat or waitlist place) is stored, seen by polling the writer's
   operations every 20 ms; then exactness checked through the public API (30 seats, nobody twice, every student
   seated or waitlisted, seats then waitlist in partition order, each client's answer the same as the roster's).

    source <the exports of BRIEF.md>; eval "$(deploy/local/infra.sh env admin)"; eval "$(deploy/local/infra.sh env s3)"
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$LOCAL_KAFKA_PORT MONGODB_URL=mongodb://127.0.0.1:$LOCAL_MONGO_PORT \\
    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/classgroups/bench_classgroups.py [--workers 2]

Prints one JSON document (medians of ``--repeats`` rounds; each round: floor, submissions, roster, in turn).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
from aiokafka import AIOKafkaProducer
from botocore.config import Config
from pymongo import AsyncMongoClient

from bench.classgroups.cpu import CpuWindow
from common.contracts.identity import RoleGranted, TeacherVerified, UserRegistered
from common.messaging import encode, kafka_client_options
from common.reference import BEIJING
from common.topics import create_topics
from tests.integration.common.tokens import AUD, ISS, Tokens

ROOT = Path(__file__).resolve().parents[2]
SCHOOL = "cn/43/4301/430102/school-430102001"
ADMIN_ROLE = f"school_admin@{SCHOOL}"
STUDENT_ROLE = f"student@{SCHOOL}"
LATE_DAYS = 7  # days open per task: today and the 7 before (late)


# --- helpers ---------------------------------------------------------------------------------------------------
def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {k: _ms(v) for k, v in re.findall(r"\s(50|90|99)%\s+([\d.]+\w+)", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    wrapped = re.search(r"pool wrapped: (\d+)", out)  # the submissions script's own count (its ``done``)
    return {
        "rps": round(rate, 1),
        "p50_ms": lat.get("50"),
        "p90_ms": lat.get("90"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        **({"pool_wrapped": int(wrapped.group(1))} if wrapped else {}),
    }


def _ms(text: str) -> float:
    n, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return round(float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit], 2)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def jpeg(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, 120)).save(out, "JPEG", quality=80)
    return out.getvalue()


async def register(accounts: list[tuple[str, str, str | None]]) -> None:
    """identity's events for (id, kind, role claim or None; a teacher is verified at SCHOOL), as identity publishes
    them; the service's directory follows them."""
    producer = AIOKafkaProducer(**kafka_client_options(), acks="all", linger_ms=20)
    await producer.start()
    try:
        t = datetime.now(UTC)
        for uid, kind, claim in accounts:
            events: list[Any] = [UserRegistered(user_id=uid, occurred_at=t, kind=kind, login_methods=("phone",))]
            if claim:
                role, _, org = claim.partition("@")
                events.append(RoleGranted(user_id=uid, occurred_at=t, role=role, org=org, granted_by="admin"))
            if kind == "teacher" and not claim:
                events.append(TeacherVerified(user_id=uid, occurred_at=t, outcome="verified", school=SCHOOL))
            for event in events:
                body, headers = encode(event, "identity")
                await producer.send(
                    event.TOPIC, body, key=event.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
                )
        await producer.flush()
    finally:
        await producer.stop()


async def until(attempt, ok, what: str, timeout: float = 600) -> httpx.Response:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        r = await attempt()
        if ok(r):
            return r
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: {r.status_code} {r.text[:300]}")
        await asyncio.sleep(0.5)


def uid() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


class School:
    """A head teacher, an admin, a class of ``size`` students with check-in tasks, and a grade-5 class for the
    course burst."""

    def __init__(self, http: httpx.AsyncClient, tokens: Tokens) -> None:
        self.http, self.tokens = http, tokens
        self.admin, self.teacher = uid(), uid()
        self.as_admin = tokens.headers(self.admin, ADMIN_ROLE)
        self.as_teacher = tokens.headers(self.teacher)

    async def klass(self, students: list[str], grade: int, name: str) -> str:
        body = {"school": SCHOOL, "school_year": 2026, "grade": grade, "name": name}
        r = await until(
            lambda: self.http.post("/v1/administrative-classes", json=body, headers=self.as_admin),
            lambda r: r.status_code == 201,
            "class",
        )
        cid = r.json()["id"]
        lines = "\n".join(json.dumps({"account_id": s}) for s in students)
        headers = {**self.as_admin, "Content-Type": "application/x-ndjson"}
        await until(
            lambda: self.http.post(f"/v1/classes/{cid}/roster", content=lines, headers=headers),
            lambda r: r.status_code == 200 and r.json()["added"] + r.json()["already"] == len(students),
            "roster",
        )
        await until(
            lambda: self.http.put(
                f"/v1/classes/{cid}/teachers", json={"head_teacher_id": self.teacher}, headers=self.as_admin
            ),
            lambda r: r.status_code == 200,
            "head teacher",
        )
        return cid

    async def tasks(self, cid: str, n: int, photos: int = 1) -> list[str]:
        today = datetime.now(BEIJING).date()
        body = {
            "title": "家务劳动打卡",
            "instructions": "每天做一件家务，拍一张照片。",
            "schedule": {"kind": "daily", "starts_on": str(today - timedelta(LATE_DAYS)), "ends_on": str(today)},
            "evidence": {"text": True, "photos": photos, "video": False},
            "late_days": LATE_DAYS,
            "labour": True,
        }
        out = []
        for _ in range(n):
            r = await self.http.post(f"/v1/classes/{cid}/checkin-tasks", json=body, headers=self.as_teacher)
            assert r.status_code == 201, r.text
            out.append(r.json()["task_id"])
        return out


def s3_client(connections: int = 32) -> Any:
    """boto3 on the object store of ``infra.sh env s3`` (the bench's uploads, what clients' presigned POSTs do)."""
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=connections),
    )


def upload_media(cid: str, tasks: list[str], students: list[str], bucket: str) -> dict[tuple[str, str], str]:
    """One JPEG per (task, student), put straight into the object store (what a client's presigned POST does)."""
    s3 = s3_client()
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # the service creates it at start; the bench may be first
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # the service was, meanwhile
            s3.create_bucket(Bucket=bucket)
    photos = [jpeg(i) for i in range(16)]
    keys = {(t, s): f"checkins/{cid}/{t}/{s}/{uuid.uuid4().hex}.jpg" for t in tasks for s in students}

    def put(item: tuple[tuple[str, str], str]) -> None:
        (_, _), key = item
        s3.put_object(Bucket=bucket, Key=key, Body=photos[hash(key) % 16], ContentType="image/jpeg")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys.items()))
    return keys


def submissions_script(tmp: Path, cid: str, keys: dict[tuple[str, str], str | None], tokens: dict[str, str]) -> Path:
    """A wrk script whose every request is a new check-in (task × student × open day), split between wrk's
    threads; a thread that runs out starts again (its repeats then answer 409 and count as non-2xx)."""
    today = datetime.now(BEIJING).date()
    days = [str(today - timedelta(d)) for d in range(LATE_DAYS + 1)]
    lines = []
    for day in days:  # the pool is ordered day by day, so a short run spreads over every task and student
        for (task, student), key in keys.items():
            media = [{"key": key, "kind": "photo", "content_type": "image/jpeg"}] if key else []
            body = json.dumps({"day": day, "text": "扫地、擦桌子", "media": media})
            lines.append(f"/v1/classes/{cid}/checkin-tasks/{task}/submissions\t{tokens[student]}\t{body}")
    pool = tmp / "submissions.tsv"
    pool.write_text("\n".join(lines) + "\n")
    script = tmp / "submissions.lua"
    script.write_text(
        """
local threads = {}
local n = 0
function setup(thread)
  thread:set("tid", n)
  n = n + 1
  table.insert(threads, thread)
end
function init(args)
  reqs = {}
  local i = 0
  for line in io.lines("POOL") do
    if i % 2 == tid then
      local path, token, body = line:match("([^\\t]+)\\t([^\\t]+)\\t(.+)")
      table.insert(reqs, wrk.format("POST", path,
        {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body))
    end
    i = i + 1
  end
  idx = 0
  wrapped = 0
end
function request()
  idx = idx + 1
  if idx > #reqs then
    idx = 1
    wrapped = wrapped + 1
  end
  return reqs[idx]
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + t:get("wrapped") end
  io.write(string.format("pool wrapped: %d\\n", w))
end
""".replace("POOL", str(pool))
    )
    return script


def take(script: Path, used: int) -> int:
    """Drop the first ``used`` requests of the pool (sent by an earlier round), so each round sends new ones;
    returns how many are left."""
    pool = Path(re.search(r'io\.lines\("([^"]+)"\)', script.read_text()).group(1))
    lines = pool.read_text().splitlines()
    if used >= len(lines):
        return 0  # (kept whole: an empty pool would stop wrk; the next round is flagged as resubmissions)
    pool.write_text("\n".join(lines[used:]) + "\n")
    return len(lines) - used


def bearer_script(tmp: Path, name: str, token: str) -> Path:
    script = tmp / f"{name}.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return script


# --- the course burst ------------------------------------------------------------------------------------------
async def burst(
    http: httpx.AsyncClient, school: School, students: list[str], tokens: Tokens, mongo_db: Any, capacity: int
) -> dict[str, Any]:
    now = datetime.now(UTC)
    course = {
        "school": SCHOOL,
        "term": "2026-autumn",
        "title": "围棋",
        "capacity": capacity,
        "slots": [{"weekday": 3, "starts": "16:00", "ends": "17:00"}],
        "grades": [5],
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
    }
    r = await http.post("/v1/courses", json=course, headers=school.as_admin)
    assert r.status_code == 201, r.text
    course_id = r.json()["course_id"]
    headers = {s: tokens.headers(s, STUDENT_ROLE, kind="student") for s in students}
    sent: dict[str, float] = {}
    accepted: dict[str, float] = {}
    decided: dict[str, float] = {}
    request_of: dict[str, str] = {}
    go = asyncio.Event()

    async def select(student: str) -> None:
        await go.wait()
        t = time.monotonic()
        r = await http.post(f"/v1/courses/{course_id}/selections", json={}, headers=headers[student])
        assert r.status_code == 202, r.text
        rid = r.json()["request_id"]
        sent[rid], accepted[rid], request_of[rid] = t, time.monotonic(), student

    async def watch() -> None:
        # the writer's operations, as stored: the moment an outcome exists (the client's GET would see it)
        ops = mongo_db["course_ops"]
        while len(decided) < len(students):
            seen = time.monotonic()
            async for op in ops.find({"course_id": course_id}, {"request_id": 1}):
                decided.setdefault(op["request_id"], seen)
            await asyncio.sleep(0.02)

    clients = [asyncio.create_task(select(s)) for s in students]
    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    go.set()
    await asyncio.gather(*clients)
    await asyncio.wait_for(watcher, 600)
    total = max(decided.values()) - t0
    to_outcome = sorted((decided[rid] - sent[rid]) * 1000 for rid in sent)
    to_202 = sorted((accepted[rid] - sent[rid]) * 1000 for rid in sent)

    # exactness, through the public API
    roster = (await http.get(f"/v1/courses/{course_id}/roster", headers=school.as_admin)).json()
    seated, waitlist = roster["seated"], roster["waitlist"]
    outcomes = {}
    for rid, student in request_of.items():
        got = (await http.get(f"/v1/course-requests/{rid}", headers=headers[student])).json()
        outcomes[student] = got.get("outcome")
    ops = sorted([d async for d in mongo_db["course_ops"].find({"course_id": course_id})], key=lambda d: d["_id"])
    in_order = [op["student_id"] for op in ops if op["outcome"] in ("seated", "waitlisted")]
    exact = {
        "seats": len(seated),
        "distinct_seated": len(set(seated)),
        "waitlist": len(waitlist),
        "nobody_twice": not set(seated) & set(waitlist) and len(set(waitlist)) == len(waitlist),
        "everyone_placed": set(seated) | set(waitlist) == set(students),
        "arrival_order": in_order == seated + waitlist,
        "clients_agree": all(outcomes[s] == ("seated" if s in set(seated) else "waitlisted") for s in students),
    }
    return {
        "selections": len(students),
        "capacity": capacity,
        "all_outcomes_ms": round(total * 1000),
        "to_202_ms": _dist(to_202),
        "to_outcome_ms": _dist(to_outcome),
        "exact": exact,
    }


def _dist(xs: list[float]) -> dict[str, float]:
    q = statistics.quantiles(xs, n=100)
    return {"p50": round(q[49], 1), "p90": round(q[89], 1), "p99": round(q[98], 1), "max": round(max(xs), 1)}


async def floor_burst(http: httpx.AsyncClient, n: int) -> dict[str, float]:
    """The same client sending ``n`` /healthz at once: the latency the client and the server's queue add alone."""
    go = asyncio.Event()
    took: list[float] = []

    async def one() -> None:
        await go.wait()
        t = time.monotonic()
        await http.get("/healthz")
        took.append((time.monotonic() - t) * 1000)

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0.2)
    go.set()
    await asyncio.gather(*tasks)
    return _dist(sorted(took))


# --- main ------------------------------------------------------------------------------------------------------
async def prepare(base: str, tokens: Tokens, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        school = School(http, tokens)
        roster_students = [uid() for _ in range(args.class_size)]
        course_students = [uid() for _ in range(args.selections)]
        await register(
            [(school.admin, "teacher", ADMIN_ROLE), (school.teacher, "teacher", None)]
            + [(s, "student", STUDENT_ROLE) for s in roster_students + course_students]
        )
        cid = await school.klass(roster_students, 7, "2026级3班")
        await school.klass(course_students, 5, "2026级5班")
        tasks = await school.tasks(cid, args.tasks, args.photos)
        return {"school": school, "cid": cid, "tasks": tasks, "roster": roster_students, "course": course_students}


def gc_per_request(path: Path, rate: float) -> dict[str, Any]:
    """What ``gc_timed.py`` wrote at the window's close: collections, and µs of CPU per request, by generation."""
    for _ in range(50):  # written by the service's signal handler, a moment after the signal
        if path.exists():
            break
        time.sleep(0.1)
    stats = json.loads(path.read_text())
    requests = rate * stats["seconds"]
    by = stats["by_generation"]
    return {
        "threshold": stats["threshold"],
        "collections": {g: v["collections"] for g, v in by.items()},
        "us_per_request": round(sum(v["cpu_s"] for v in by.values()) * 1e6 / requests, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--class-size", type=int, default=60)
    parser.add_argument(
        "--tasks", type=int, default=60, help="check-in tasks (60 students × 8 open days each: the request pool)"
    )
    parser.add_argument(
        "--photos",
        type=int,
        choices=[0, 1],
        default=1,
        help="photos per check-in (0: text only, no object store GET: an upper bound, not the issue's target)",
    )
    parser.add_argument("--selections", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=30)
    parser.add_argument("--port", type=int, default=18951)
    parser.add_argument("--code", type=Path, default=ROOT, help="tree whose services run (an A/B: an older checkout)")
    parser.add_argument(
        "--profile", help="run the service (one worker) under cProfile (the first submissions round's middle half)"
    )
    parser.add_argument(
        "--commands", help="run the service (one worker) counting its store commands (JSON written here)"
    )
    parser.add_argument(
        "--gc-stats",
        action="store_true",
        help="run the service (one worker) timing its garbage collector over the first submissions round's middle half",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="run the service (one worker) timing a submission's stages (photo read, wait for its group's write, "
        "the write) and the event loop's lag over the first submissions round's middle half",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="CPU per submission by process (and by thread of the service) over the middle half of each round",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["healthz", "submissions", "roster", "burst"])
    parser.add_argument(
        "--roster-connections",
        type=int,
        nargs="*",
        default=[],
        help="also, each round, /healthz then the roster at each of these connection counts (e.g. 8 4)",
    )
    args = parser.parse_args()
    if sum(map(bool, (args.profile, args.commands, args.gc_stats, args.stages))) > 1:
        parser.error("--profile, --commands, --gc-stats and --stages each run the service their own way: choose one")
    tokens = Tokens()
    tmp = Path(tempfile.mkdtemp())
    run = uuid.uuid4().hex[:6]
    bucket = "bench-classgroups-media"  # one bucket for every run: each bucket takes SeaweedFS volumes
    env = {
        **os.environ,
        "PYTHONPATH": f"{args.code / 'libs'}:{args.code / 'services'}:{ROOT}",
        "AUTH_JWKS_URL": tokens.serve()[0],
        "AUTH_ISSUER": ISS,
        "AUTH_AUDIENCE": AUD,
        "MONGODB_DATABASE_PREFIX": f"bench_{run}_",
        "KAFKA_CLIENT_PREFIX": f"bench-{run}-",
        "CLASSGROUPS_MEDIA_BUCKET": bucket,
        "LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "classgroups.app:create_app", "--port", str(args.port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--workers", str(args.workers)]
    if args.profile:
        cmd = [sys.executable, "-m", "bench.classgroups.profiled", str(args.port), args.profile]
    if args.commands:
        cmd = [sys.executable, "-m", "bench.classgroups.commands", str(args.port), str(Path(args.commands).resolve())]
    window_file = tmp / "window.json"  # what a wrapper wrote at the window's close
    if args.gc_stats:
        cmd = [sys.executable, "-m", "bench.classgroups.gc_timed", str(args.port), str(window_file)]
    if args.stages:
        cmd = [sys.executable, "-m", "bench.classgroups.stages", str(args.port), str(window_file)]
    # The declared topics before the service starts: on fresh infrastructure its clients would otherwise have the
    # broker auto-create them with one partition, not the declared twelve, and every later offset lookup of the
    # missing partitions (the integration tests', a service's replay) times out.
    asyncio.run(create_topics(kafka_client_options()))
    proc = subprocess.Popen(cmd, env=env, cwd=args.code, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(1)
        t = time.time()
        setup = asyncio.run(prepare(base, tokens, args, tmp))
        school, cid = setup["school"], setup["cid"]
        student_tokens = {s: tokens.token(s, STUDENT_ROLE, kind="student") for s in setup["roster"]}
        if args.photos:
            keys = upload_media(cid, setup["tasks"], setup["roster"], bucket)
        else:  # text only: what the service costs without the object store's GET (an upper bound, not the target)
            keys = {(t, s): None for t in setup["tasks"] for s in setup["roster"]}
        script = submissions_script(tmp, cid, keys, student_tokens)
        prepared_s = round(time.time() - t)
        teacher = bearer_script(tmp, "teacher", school.as_teacher["Authorization"].split()[1])
        roster_url = f"{base}/v1/classes/{cid}/members"
        sub_url = f"{base}/v1/classes/{cid}/checkin-tasks/x/submissions"
        warm = wrk(sub_url, 3, args.connections, script)
        left = take(script, int(warm["rps"] * 3 * 1.2))
        wrk(roster_url, 2, args.connections, teacher)
        rounds = []
        for _ in range(args.repeats):
            one: dict[str, Any] = {"uptime": uptime()}
            if "healthz" not in args.skip:  # (skipped only to profile a route alone: no floor, no ratio)
                one["healthz"] = wrk(f"{base}/healthz", args.seconds, args.connections)
            if "submissions" not in args.skip:
                # the first round's window
                signalled = bool(args.profile or args.gc_stats or args.stages) and not rounds
                measure = args.cpu or signalled
                window = CpuWindow(proc.pid, os.environ.get("SMARTEDU_STATE")) if measure else None
                sampler = window.during(args.seconds, signals=signalled) if window else None
                one["submissions"] = wrk(sub_url, args.seconds, args.connections, script)
                if window and sampler:
                    sampler.join()
                    one["submissions"]["cpu_per_request"] = window.per_request(one["submissions"]["rps"])
                if args.gc_stats and signalled:
                    one["submissions"]["gc"] = gc_per_request(window_file, one["submissions"]["rps"])
                if args.stages and signalled:
                    one["submissions"]["stages"] = json.loads(window_file.read_text())
                # A pool that ran out starts again: its repeats are resubmissions (409), not what is measured. The
                # script counts its wraps (a thread's half can run out before the round's average says so).
                sent = one["submissions"]["rps"] * args.seconds
                one["submissions"]["pool_ran_out"] = one["submissions"]["pool_wrapped"] > 0
                if one["submissions"]["pool_ran_out"]:
                    print(f"the pool ran out ({left} left, ~{sent:.0f} sent): raise --tasks", file=sys.stderr)
                left = take(script, int(sent * 1.2))
            if "roster" not in args.skip:
                one["roster"] = wrk(roster_url, args.seconds, args.connections, teacher)
                for c in args.roster_connections:
                    one[f"healthz_c{c}"] = wrk(f"{base}/healthz", args.seconds, c)
                    one[f"roster_c{c}"] = wrk(roster_url, args.seconds, c, teacher)
                    one[f"uptime_c{c}"] = uptime()
            rounds.append(one)
        result: dict[str, Any] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "workers": args.workers,
            "connections": args.connections,
            "photos": args.photos,
            "seconds": args.seconds,
            "prepared_s": prepared_s,
            "rounds": rounds,
            "median": {
                name: {
                    k: statistics.median(r[name][k] for r in rounds)
                    for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "non_2xx")
                }
                for name in rounds[0]
                if isinstance(rounds[0][name], dict)
            },
        }
        med = result["median"]
        for name in med:
            floor = "healthz" + name.partition("_")[1] + name.partition("_")[2]  # roster_c8 against healthz_c8
            if not name.startswith("healthz") and floor in med:
                med[name]["ratio_rps_to_healthz"] = round(med[name]["rps"] / med[floor]["rps"], 3)
        if "burst" not in args.skip:

            async def the_burst() -> dict[str, Any]:
                limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
                async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
                    floor = await floor_burst(http, args.selections)
                    mongo = AsyncMongoClient(os.environ["MONGODB_URL"])
                    db = mongo[f"bench_{run}_classgroups"]
                    got = await burst(http, school, setup["course"], tokens, db, args.capacity)
                    await mongo.close()
                    return {"healthz_burst_ms": floor, **got, "uptime": uptime()}

            result["burst"] = asyncio.run(the_burst())
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
