"""Serving latency of GET /v1/me/recommendations under wrk, with 88,000 resources and a week of views in memory
(``serving_app.py``), against /healthz of the same process in the same run (the service's floor): ``--rounds``
alternating rounds per connection count, medians reported, with the load average before and after.

    eval "$(SMARTEDU_STATE=... deploy/local/infra.sh env admin)"
    KAFKA_BOOTSTRAP_SERVERS=... MONGODB_URL=... PYTHONPATH=libs:services:. \\
    .cache/pyenv/bin/python bench/recommender/bench_serving.py [--seconds 15] [--connections 32 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.integration.recommender.conftest import AUD, ISS, Tokens

ROOT = Path(__file__).resolve().parents[2]


def wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "p50": lat.get("50"), "p99": lat.get("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def medians(rounds: list[dict]) -> dict:
    out = {}
    for route in ("healthz", "recommendations"):
        out[route] = {
            "rps": statistics.median(r[route]["rps"] for r in rounds),
            "p50_ms": statistics.median(ms(r[route]["p50"]) for r in rounds),
            "p99_ms": statistics.median(ms(r[route]["p99"]) for r in rounds),
        }
    out["ratio_rps"] = round(out["recommendations"]["rps"] / out["healthz"]["rps"], 3)
    out["ratio_p99"] = round(out["recommendations"]["p99_ms"] / out["healthz"]["p99_ms"], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18941)
    args = parser.parse_args()
    tokens = Tokens()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "jwks.json").write_text(json.dumps({"keys": [tokens.key.as_dict(private=False)]}))
    run = uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "BENCH_JWKS_FILE": str(tmp / "jwks.json"),
        "AUTH_ISSUER": ISS,
        "AUTH_AUDIENCE": AUD,
        "MONGODB_DATABASE_PREFIX": f"bench_{run}_",
        "KAFKA_CLIENT_PREFIX": f"bench-{run}-",
        "LOG_LEVEL": "WARNING",
        "RECOMMENDER_SERVED_SAMPLE_RATE": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.recommender.serving_app:create",
            "--port",
            str(args.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() - t0 > 300 or proc.poll() is not None:
                raise SystemExit("the app did not start")
            time.sleep(1)
        headers = []
        for i in range(50):
            h = tokens.headers(f"bench-student-{i}", "student@cn/43/4301", kind="student")
            version = f"tv.syn{i % 65}.primary.math"
            body = {"grade": 5, "textbook_versions": [version], "province": f"{11 + i % 50}", "subjects": ["math"]}
            assert httpx.put(f"{base}/v1/me/profile", json=body, headers=h, timeout=30).status_code == 200
            headers.append(h["Authorization"])
        lua = tmp / "tokens.lua"
        lua.write_text(
            "tokens = {" + ",".join(f'"{t}"' for t in headers) + "}\nn = 0\n"
            "request = function()\n  n = n + 1\n  wrk.headers['Authorization'] = tokens[(n % #tokens) + 1]\n"
            "  return wrk.format('GET', '/v1/me/recommendations')\nend\n"
        )
        wrk(f"{base}/v1/me/recommendations", 5, args.connections[0], lua)  # warm-up
        load_before = os.getloadavg()
        results = {}
        for c in args.connections:
            rounds = []
            for _ in range(args.rounds):
                floor = wrk(f"{base}/healthz", args.seconds, c, None)
                recs = wrk(f"{base}/v1/me/recommendations", args.seconds, c, lua)
                rounds.append({"healthz": floor, "recommendations": recs})
            results[f"c{c}"] = {"rounds": rounds, "median": medians(rounds)}
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text()).group(1)) // 1024
        report = {"load_before": load_before, "load_after": os.getloadavg(), "rss_mib": rss, **results}
        print(json.dumps(report, indent=2))
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
