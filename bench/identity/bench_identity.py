"""Identity benchmarks, against the real Kafka and FerretDB.

    .cache/pyenv/bin/python bench/identity/bench_identity.py [--logins 400] [--concurrency 16]

Measures (printed as JSON):
- Argon2id hash and verify time with the deployed parameters (settings defaults);
- login latency p50/p99 and logins/s through the HTTP API (in-process ASGI: the service's own cost without
  network; each login = 2 ``_id`` reads + throttle reads + one Argon2id verify + refresh token insert + signing);
- access-token verifications/s in-process (``common.auth.TokenVerifier``, cached JWKS, one core);
- cost of a JWKS rotation on a verifier: publish-ahead rotation (no fetch needed) vs an unannounced key
  (one JWKS fetch over HTTP, in the request that first shows the new ``kid``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

import httpx  # noqa: E402
import orjson  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from common.auth import JwksCache, Role, TokenVerifier  # noqa: E402
from identity.app import create_app  # noqa: E402
from identity.domain import crypto, tokens  # noqa: E402
from identity.settings import IdentitySettings  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def bench_argon2(settings: IdentitySettings, rounds: int = 20) -> dict[str, object]:
    pw = crypto.Passwords(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    stored = pw.hash("Correct-Horse-9")
    t = []
    for _ in range(rounds):
        s = time.perf_counter()
        pw.verify(stored, "Correct-Horse-9")
        t.append(time.perf_counter() - s)
    return {"parameters": pw.parameters, "verify_ms_median": round(statistics.median(t) * 1000, 2)}


async def bench_login(n: int, concurrency: int) -> dict[str, object]:
    run = uuid.uuid4().hex[:8]
    settings = IdentitySettings(
        mongodb_database_prefix=f"bench_identity_{run}_",
        kafka_client_prefix=f"bench-{run}-",
        issuer="http://id.test",
        login_max_failures=1000,
    )
    app = create_app(settings)
    users = max(concurrency, 50)
    try:
        async with (
            LifespanManager(app, startup_timeout=60) as m,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url="http://id.test", timeout=60) as c,
        ):
            phones = [f"138{i:08d}" for i in range(users)]
            sem = asyncio.Semaphore(concurrency)

            async def register(p: str) -> None:
                async with sem:
                    r = await c.post(
                        "/v1/accounts",
                        json={"phone": p, "password": "Correct-Horse-9", "real_name": "李明", "kind": "student"},
                    )
                    assert r.status_code == 201, r.text

            await asyncio.gather(*(register(p) for p in phones))
            lat: list[float] = []

            async def login(i: int) -> None:
                async with sem:
                    s = time.perf_counter()
                    r = await c.post(
                        "/v1/sessions",
                        json={"identifier": phones[i % users], "password": "Correct-Horse-9"},
                        headers={"x-forwarded-for": f"10.0.{i % 250}.{i % 7}"},
                    )
                    lat.append(time.perf_counter() - s)
                    assert r.status_code == 200, r.text

            start = time.perf_counter()
            await asyncio.gather(*(login(i) for i in range(n)))
            wall = time.perf_counter() - start
    finally:
        mongo = AsyncMongoClient(settings.mongodb_url)
        await mongo.drop_database(f"bench_identity_{run}_identity")
        await mongo.close()
    return {
        "logins": n,
        "concurrency": concurrency,
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1),
        "logins_per_s": round(n / wall, 1),
    }


def jwks_app(ring: tokens.KeyRing) -> FastAPI:
    app = FastAPI()

    @app.get("/jwks.json")
    async def jwks() -> dict:
        return ring.jwks(datetime.now(UTC))

    return app


async def bench_verify(n: int) -> dict[str, object]:
    now = datetime.now(UTC)
    policy = tokens.TokenPolicy(issuer="http://id.test", audience="smartedu-api")
    ring = tokens.KeyRing()
    ring.ensure(now)
    roles = [Role.parse("teacher@cn/43/4301/430102/school-430102001"), Role.parse("head_teacher@cn/43/4301")]
    token, _ = tokens.issue_access_token(ring, policy, subject="u_x", roles=roles, kind="teacher", now=now)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app(ring)), base_url="http://id.test")
    cache = JwksCache("http://id.test/jwks.json", client=client, min_refresh_seconds=0)
    verifier = TokenVerifier(cache, issuer="http://id.test", audience="smartedu-api")
    await verifier.verify(token)
    s = time.perf_counter()
    for _ in range(n):
        await verifier.verify(token)
    per_s = n / (time.perf_counter() - s)

    sync_s = time.perf_counter()
    key = cache._keys[ring.active().kid]
    for _ in range(n):
        verifier.verify_with_key(token, key)
    sync_per_s = n / (time.perf_counter() - sync_s)

    # the floor: one bare Ed25519 signature check (cryptography/OpenSSL) on this machine
    signing_input, _, sig = token.rpartition(".")
    raw_key = key.get_op_key("verify")
    raw_sig = crypto.b64d(sig)
    raw_s = time.perf_counter()
    for _ in range(n):
        raw_key.verify(raw_sig, signing_input.encode())
    raw_per_s = n / (time.perf_counter() - raw_s)

    sign_s = time.perf_counter()
    for _ in range(2000):
        tokens.issue_access_token(ring, policy, subject="u_x", roles=roles, kind="teacher", now=now)
    signs_per_s = 2000 / (time.perf_counter() - sign_s)

    # publish-ahead rotation: the verifier fetched before the rotation and already knows the next key
    fetches = cache.fetches
    ring.rotate(now, policy.access_ttl)
    new_token, _ = tokens.issue_access_token(ring, policy, subject="u_x", roles=roles, kind="teacher", now=now)
    s = time.perf_counter()
    await verifier.verify(new_token)
    ahead_ms = (time.perf_counter() - s) * 1000
    ahead_fetches = cache.fetches - fetches

    # unannounced key (e.g. a verifier that started before two rotations): one fetch in the first request
    ring.rotate(now + timedelta(seconds=1), policy.access_ttl)
    ring.rotate(now + timedelta(seconds=2), policy.access_ttl)
    cold_token, _ = tokens.issue_access_token(ring, policy, subject="u_x", roles=roles, kind="teacher", now=now)
    fetches = cache.fetches
    s = time.perf_counter()
    await verifier.verify(cold_token)
    cold_ms = (time.perf_counter() - s) * 1000
    await client.aclose()
    return {
        "verifications_per_s_one_core": round(per_s),
        "sync_verifications_per_s": round(sync_per_s),
        "bare_ed25519_verifies_per_s": round(raw_per_s),
        "signatures_per_s_one_core": round(signs_per_s),
        "token_bytes": len(token),
        "rotation_publish_ahead": {"first_verify_ms": round(ahead_ms, 3), "jwks_fetches": ahead_fetches},
        "rotation_unannounced_key": {"first_verify_ms": round(cold_ms, 3), "jwks_fetches": cache.fetches - fetches},
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--verifications", type=int, default=20000)
    args = parser.parse_args()
    out = {"argon2id": bench_argon2(IdentitySettings())}
    out["token_verification"] = await bench_verify(args.verifications)
    out["login"] = await bench_login(args.logins, args.concurrency)
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    asyncio.run(main())
