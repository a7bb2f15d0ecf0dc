"""Access-token verification per second on one core, in-process: what every authenticated request pays.

    PYTHONPATH=libs .cache/pyenv/bin/python bench/common/bench_token_verify.py [--users 2000] [--rounds 5]

Three rates, measured alternately in each round of the same run (medians printed, one JSON line):
- ``bare``: the Ed25519 signature check alone (``cryptography``), the floor any verification pays;
- ``uncached``: ``TokenVerifier.verify`` with its cache off (signature, ``typ``, ``iss``, ``aud``, claims,
  Principal), as every request paid before the cache;
- ``cached``: ``TokenVerifier.verify`` for tokens seen before, ``--users`` distinct tokens in turn (each user's
  client sends its token with every request for the token's 10-minute life).
The ratios against ``bare`` are what to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
import uuid

import httpx
from joserfc import jwt
from joserfc.jwk import OKPKey

from common.auth import JwksCache, TokenVerifier

ISS, AUD = "https://id.smartedu.cn", "smartedu-api"


def b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def make_tokens(key: OKPKey, n: int) -> list[str]:
    now = int(time.time())
    header = {"alg": "Ed25519", "kid": key.kid, "typ": "at+jwt"}
    return [
        jwt.encode(
            header,
            {
                "iss": ISS,
                "aud": AUD,
                "sub": f"u-{i}",
                "jti": uuid.uuid4().hex,
                "iat": now,
                "exp": now + 600,
                "roles": ["teacher@cn/43/4301/430102/school-1", "student@cn/43/4301/430102/school-1"],
                "kind": "teacher",
            },
            key,
            algorithms=["Ed25519"],
        )
        for i in range(n)
    ]


def verifier(key: OKPKey, cache_size: int) -> TokenVerifier:
    jwks = {"keys": [key.as_dict(private=False)]}
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=jwks)))
    return TokenVerifier(JwksCache("http://id/jwks", client=client), issuer=ISS, audience=AUD, cache_size=cache_size)


def rate_bare(key: OKPKey, tokens: list[str], seconds: float) -> float:
    public = key.public_key  # cryptography's Ed25519PublicKey
    parts = [(t.rsplit(".", 1)[0].encode(), b64(t.rsplit(".", 1)[1])) for t in tokens]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for message, signature in parts[:200]:
            public.verify(signature, message)
        done += 200
    return done / (time.perf_counter() - start)


async def rate_verify(v: TokenVerifier, tokens: list[str], seconds: float) -> float:
    done, start, i, n = 0, time.perf_counter(), 0, len(tokens)
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            await v.verify(tokens[i % n])
            i += 1
        done += 200
    return done / (time.perf_counter() - start)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    key = OKPKey.generate_key("Ed25519", {"kid": "k1", "use": "sig", "alg": "Ed25519"}, private=True)
    tokens = make_tokens(key, args.users)
    uncached, cached = verifier(key, 0), verifier(key, 50_000)
    for t in tokens:  # the cached verifier has seen every token once (the first request of each user)
        await cached.verify(t)
    results: dict[str, list[float]] = {"bare": [], "uncached": [], "cached": []}
    for _ in range(args.rounds):
        results["bare"].append(rate_bare(key, tokens, args.seconds))
        results["uncached"].append(await rate_verify(uncached, tokens, args.seconds))
        results["cached"].append(await rate_verify(cached, tokens, args.seconds))
    med = {k: round(statistics.median(v)) for k, v in results.items()}
    print(
        json.dumps(
            {
                "per_second_median": med,
                "runs": {k: [round(x) for x in v] for k, v in results.items()},
                "ratio_to_bare": {k: round(v / med["bare"], 2) for k, v in med.items()},
                "users": args.users,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
