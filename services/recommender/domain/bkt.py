"""Bayesian Knowledge Tracing: the probability that a student has mastered a knowledge point, updated with each
graded answer.

The parameters (prior P(L0), learn P(T), guess P(G), slip P(S); forgetting fixed at 0 as in classic BKT) were
fitted offline with pyBKT on the synthetic behaviour log (``bench/recommender/fit_bkt.py``) and are stored in
``bkt_params.json`` beside this module: per knowledge point where the data had one, else the ``default`` fit over
all knowledge points pooled. The online step is the standard BKT update with those parameters (pyBKT's own
forward pass computes the same quantities, but per call it is far too slow for a request)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PARAMS_FILE = Path(__file__).with_name("bkt_params.json")


@dataclass(frozen=True)
class BktParams:
    prior: float
    learn: float
    guess: float
    slip: float


@dataclass(frozen=True)
class BktModel:
    default: BktParams
    skills: dict[str, BktParams]

    def of(self, kp: str) -> BktParams:
        return self.skills.get(kp, self.default)

    @classmethod
    def from_dict(cls, data: dict) -> BktModel:
        return cls(BktParams(**data["default"]), {k: BktParams(**v) for k, v in data.get("skills", {}).items()})


@cache
def stored_model() -> BktModel:
    return BktModel.from_dict(json.loads(PARAMS_FILE.read_text()))


def update(p: float, correct: bool, params: BktParams) -> float:
    """P(mastered) after one graded answer: Bayes on the evidence, then the chance to learn from the attempt."""
    if correct:
        evidence = p * (1 - params.slip)
        posterior = evidence / (evidence + (1 - p) * params.guess)
    else:
        evidence = p * params.slip
        posterior = evidence / (evidence + (1 - p) * (1 - params.guess))
    return posterior + (1 - posterior) * params.learn


def p_correct(p: float, params: BktParams) -> float:
    """Predicted probability of a right answer given the current mastery estimate."""
    return p * (1 - params.slip) + (1 - p) * params.guess
