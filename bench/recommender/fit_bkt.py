"""Fit the BKT parameters the recommender stores (services/recommender/domain/bkt_params.json) with pyBKT on the
synthetic behaviour log's answers (``synthetic.py``, a seed of its own, not the evaluation's).

    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/recommender/fit_bkt.py

All knowledge points pooled into one skill, each student's answers to one knowledge point one sequence: the
``default`` parameters every knowledge point uses until real answers are enough to fit it alone. (Pooling the
student's whole log as one sequence instead gave a degenerate fit: guess 0.94, slip 0.40.) pyBKT runs with
``parallel=False``: its worker pool hung here. About 4 minutes on this machine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from pyBKT.models import Model

from bench.recommender.synthetic import Params, generate

OUT = Path(__file__).resolve().parents[2] / "services/recommender/domain/bkt_params.json"


def fit(events, skill_of=lambda e: "default") -> dict[str, dict[str, float]]:
    rows = [
        # one sequence per (student, knowledge point): the pooled skill's parameters are shared, its states not
        {"order_id": i, "user_id": f"{e.user}|{e.kp}", "skill_name": skill_of(e), "correct": int(bool(e.correct))}
        for i, e in enumerate(x for x in events if x.kind == "answer")
    ]
    model = Model(seed=42, num_fits=2, parallel=False)
    model.fit(data=pd.DataFrame(rows))
    params = model.params().reset_index()
    out: dict[str, dict[str, float]] = {}
    for skill, group in params.groupby("skill"):
        values = dict(zip(group["param"], group["value"], strict=True))
        out[skill] = {
            "prior": round(float(values["prior"]), 4),
            "learn": round(float(values["learns"]), 4),
            "guess": round(float(values["guesses"]), 4),
            "slip": round(float(values["slips"]), 4),
        }
    return out


def main() -> int:
    t0 = time.perf_counter()
    world = generate(Params(students=80), seed=1)
    fitted = fit(world.events)
    document = {
        "fitted_on": "bench/recommender/synthetic.py, Params(students=80), seed 1, all knowledge points pooled",
        "default": fitted["default"],
        "skills": {},
    }
    OUT.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    print(f"fitted in {time.perf_counter() - t0:.1f} s: {fitted['default']} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
