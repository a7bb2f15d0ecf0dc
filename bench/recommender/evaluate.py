"""Offline evaluation of the recommender on the synthetic behaviour log (``synthetic.py``), all models in one run.

    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/recommender/evaluate.py [--students N] [--json out]

Temporal split at 80 % of the days: models see only what happened before it. The truth of a student is the first
10 resources they finished after the split that they had not finished before (resources withdrawn at the split,
5 %, are removed from the truth and from every model's output). Each model recommends 10 resources per student:
- popularity: the most viewed resources before the split, minus what the student viewed or finished;
- ALS: ``implicit``'s AlternatingLeastSquares on the user x resource matrix (views 1, finishes 3), minus what the
  student viewed or finished (``filter_already_liked_items``);
- recommender: the service's own ranking (``recommender.domain.recommend.for_student``) with its item-item model
  trained on the same matrix and BKT mastery folded from the student's answers before the split.
NDCG@10 (binary relevance) and recall@10 per student, averaged. Mastery: AUC of the online BKT estimate (the stored
parameters, updated answer by answer through the whole log) against the simulator's hidden state at each answer
after the split, and of its predicted P(correct) against the answers themselves. The property "never a finished or
withdrawn resource" is checked on every list of the run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.metrics import roc_auc_score

from bench.recommender.replay import graded, pool_of, replay
from bench.recommender.synthetic import Params, generate
from recommender.cf import train
from recommender.domain.behaviour import Behaviour
from recommender.domain.bkt import p_correct, stored_model
from recommender.domain.notebook import Learning
from recommender.domain.profile import Profile
from recommender.domain.recommend import for_student

K = 10


def ndcg(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(ranked[:K]) if r in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall(ranked: list[str], relevant: set[str]) -> float:
    return len(set(ranked[:K]) & relevant) / len(relevant) if relevant else 0.0


def run(students: int, seed: int) -> dict:
    p = Params(students=students)
    world = generate(p, seed=seed)
    split = p.days * 0.8
    rng = random.Random(seed)
    withdrawn = set(rng.sample(sorted(world.resources), len(world.resources) // 20))
    train_events = [e for e in world.events if e.day < split]
    test_events = [e for e in world.events if e.day >= split]
    pool = pool_of(world, withdrawn)
    behaviour = Behaviour()
    replay(train_events, pool, behaviour)

    finished_before = {u: set(behaviour.finished_by(u)) for u in world.student_version}
    truth: dict[str, list[str]] = defaultdict(list)
    for e in test_events:
        fresh = e.kind == "finish" and e.item not in finished_before[e.user] and e.item not in withdrawn
        if fresh and e.item not in truth[e.user] and len(truth[e.user]) < K:
            truth[e.user].append(e.item)
    users = sorted(u for u in truth if truth[u])

    # the interaction matrix every model learns from (views 1, finishes 3)
    weights: Counter = Counter()
    for e in train_events:
        if e.kind in ("view", "finish"):
            weights[(e.user, e.item)] += 1 if e.kind == "view" else 3
    user_ix = {u: i for i, u in enumerate(sorted({u for u, _ in weights}))}
    items = sorted({r for _, r in weights})
    item_ix = {r: i for i, r in enumerate(items)}
    rows = [user_ix[u] for u, _ in weights]
    cols = [item_ix[r] for _, r in weights]
    matrix = csr_matrix(
        (np.array(list(weights.values()), dtype=np.float32), (rows, cols)), shape=(len(user_ix), len(items))
    )

    t0 = time.perf_counter()
    cf = train(list(behaviour.pairs))
    t_cf = time.perf_counter() - t0
    from implicit.als import AlternatingLeastSquares

    t0 = time.perf_counter()
    als = AlternatingLeastSquares(factors=64, iterations=20, regularization=0.05, random_state=seed)
    als.fit(matrix, show_progress=False)
    t_als = time.perf_counter() - t0

    views = Counter(e.item for e in train_events if e.kind == "view")
    popular_ids = [r for r, _ in views.most_common() if r not in withdrawn]

    # mastery: online BKT over each student's answers in time order
    model = stored_model()
    learners: dict[str, Learning] = defaultdict(lambda: Learning(model))
    est, truth_state, pred, outcome = [], [], [], []
    for i, e in enumerate(world.events):
        if e.kind != "answer":
            continue
        learning = learners[e.user]
        if e.day >= split:
            m = learning.estimate(e.kp)
            est.append(m)
            truth_state.append(int(bool(e.known)))
            pred.append(p_correct(m, model.of(e.kp)))
            outcome.append(int(bool(e.correct)))
        learning.apply(graded(e, i))  # online: the estimate moves with each answer, as the service's does
    # the ranking sees only the mastery of the answers before the split
    learners_train: dict[str, Learning] = defaultdict(lambda: Learning(model))
    for i, e in enumerate(train_events):
        if e.kind == "answer":
            learners_train[e.user].apply(graded(e, i))

    scores: dict[str, dict[str, list[float]]] = {m: {"ndcg": [], "recall": []} for m in ("popularity", "als", "ours")}
    violations = 0
    latencies = []
    for u in users:
        relevant = set(truth[u])
        done = finished_before[u]
        # the baselines leave out everything the student touched (their strongest setting here)
        touched = {items[j] for j in matrix[user_ix[u]].indices} if u in user_ix else set()
        pop = [r for r in popular_ids if r not in touched][:K]
        ids, _ = als.recommend(user_ix[u], matrix[user_ix[u]], N=K + 40, filter_already_liked_items=True)
        als_list = [items[j] for j in ids if items[j] not in withdrawn][:K]
        profile = Profile(grade=5, textbook_versions=[world.student_version[u]])
        t0 = time.perf_counter()
        ours = [
            i.resource_id for i in for_student(pool, behaviour, u, profile, learners_train[u].mastery, cf.similar, K)
        ]
        latencies.append(time.perf_counter() - t0)
        violations += sum(1 for r in ours if r in done or r in withdrawn)
        for name, ranked in (("popularity", pop), ("als", als_list), ("ours", ours)):
            scores[name]["ndcg"].append(ndcg(ranked, relevant))
            scores[name]["recall"].append(recall(ranked, relevant))
    table = {name: {k: float(np.mean(v)) for k, v in s.items()} for name, s in scores.items()}
    return {
        "params": {"students": students, "seed": seed, "days": p.days, "split_day": split},
        "events": {"train": len(train_events), "test": len(test_events)},
        "evaluated_students": len(users),
        "ranking": table,
        "mastery_auc_vs_hidden_state": float(roc_auc_score(truth_state, est)),
        "p_correct_auc_vs_answers": float(roc_auc_score(outcome, pred)),
        "test_answers": len(outcome),
        "violations_finished_or_withdrawn": violations,
        "train_seconds": {"item_item_cf": round(t_cf, 3), "als": round(t_als, 3)},
        "ranking_ms_median": round(1000 * float(np.median(latencies)), 3),
        "ranking_ms_p99": round(1000 * float(np.quantile(latencies, 0.99)), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.students, args.seed)
    print("| model | NDCG@10 | recall@10 |\n| --- | --- | --- |")
    for name, label in (("popularity", "popularity"), ("als", "ALS (implicit)"), ("ours", "recommender")):
        r = result["ranking"][name]
        print(f"| {label} | {r['ndcg']:.3f} | {r['recall']:.3f} |")
    print(json.dumps({k: v for k, v in result.items() if k != "ranking"}, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 1 if result["violations_finished_or_withdrawn"] else 0


if __name__ == "__main__":
    sys.exit(main())
