from datetime import timedelta

import pytest

from common.contracts.exercises import ExerciseWithdrawn
from recommender.domain.bkt import BktParams, stored_model, update
from recommender.domain.exercises import ExerciseBank, Response, grade, public
from recommender.domain.notebook import GradedAnswer, fold, most_missed, notebook_view, target_difficulty
from tests.unit.recommender.factories import T0, exercise, published_exercise

pytestmark = pytest.mark.unit


def test_choice_items_are_right_only_with_exactly_the_key() -> None:
    ex = exercise(
        "e1", item_type="multiple_choice", answer_key=["A", "B"], choices=[{"key": k, "text": k} for k in "ABC"]
    )
    assert grade(ex, Response(exercise_id="e1", choices=["B", "A"])) is True
    assert grade(ex, Response(exercise_id="e1", choices=["A"])) is False
    assert grade(ex, Response(exercise_id="e1", choices=["A", "D"])) is None  # no such choice
    assert grade(ex, Response(exercise_id="e1", text="A")) is None  # a blank's response to a choice item


def test_a_blank_accepts_its_answers_written_in_full_width_or_with_spaces() -> None:
    ex = exercise("e2", item_type="fill_blank", choices=[], answer_key=["3/4", "0.75"])
    assert grade(ex, Response(exercise_id="e2", text=" ３／４ ")) is True
    assert grade(ex, Response(exercise_id="e2", text="0.75")) is True
    assert grade(ex, Response(exercise_id="e2", text="3/8")) is False


def test_the_public_view_of_an_exercise_has_no_key_and_no_explanation() -> None:
    shown = public(exercise("e1"))
    assert "answer_key" not in shown and "explanation" not in shown and shown["stem"]


def test_bkt_moves_up_on_a_right_answer_and_down_on_a_wrong_one() -> None:
    p = BktParams(prior=0.3, learn=0.1, guess=0.2, slip=0.1)
    assert update(0.5, True, p) > 0.5 > update(0.5, False, p)
    assert 0 < update(0.0001, False, p) < update(0.9999, True, p) < 1


def answer(i: int, eid: str, correct: bool, at, kps=("分数的加法",)) -> GradedAnswer:
    return GradedAnswer(f"a{i}", eid, 1, "math", tuple(kps), correct, at)


def test_a_knowledge_point_leaves_the_notebook_only_after_right_answers_on_its_due_reviews() -> None:
    model = stored_model()
    answers = [answer(0, "e1", False, T0)]
    learning = fold(model, answers)
    assert "分数的加法" in learning.notebook
    # right answers before the review is due are practice: the card does not move
    early = [*answers, *(answer(i, "e2", True, T0 + timedelta(seconds=10 * i)) for i in range(1, 5))]
    assert fold(model, early).notebook["分数的加法"].reviews == 1
    # right on each due review: 1 min, 10 min, 1 day, 2 days after the mistake → next interval ≥ 7 days
    at = T0
    for i in range(1, 10):
        point = fold(model, answers).notebook.get("分数的加法")
        if point is None:
            break
        at = point.card.due
        answers.append(answer(i, "e2", True, at))
    learning = fold(model, answers)
    assert "分数的加法" not in learning.notebook
    assert learning.cleared["分数的加法"] == at
    assert 4 <= len(answers) - 1 <= 5  # a handful of spaced reviews, not one lucky answer


def test_a_wrong_review_sends_the_point_back_to_the_start() -> None:
    model = stored_model()
    answers = [answer(0, "e1", False, T0)]
    due = fold(model, answers).notebook["分数的加法"].card.due
    answers.append(answer(1, "e2", True, due))
    answers.append(answer(2, "e3", False, due + timedelta(minutes=1)))
    point = fold(model, answers).notebook["分数的加法"]
    assert point.exercises == {"e1": 1, "e3": 1}
    assert point.card.due - (due + timedelta(minutes=1)) <= timedelta(minutes=10)


def test_similar_exercises_are_of_the_point_not_done_and_near_the_target_difficulty() -> None:
    bank = ExerciseBank()
    for eid, d in [("e1", 3), ("e2", 1), ("e3", 2), ("e4", 5), ("e5", 3)]:
        bank.apply(published_exercise(eid, difficulty=d))
    bank.apply(published_exercise("other", kps=("小数",), difficulty=1))
    bank.apply(ExerciseWithdrawn(exercise_id="e3", version=2, reason="x", withdrawn_at=T0))
    learning = fold(stored_model(), [answer(0, "e1", False, T0)])
    view = notebook_view(learning, bank, T0)
    point = view["subjects"][0]["knowledge_points"][0]
    target = target_difficulty(point["mastery"])
    similar = [e["id"] for e in point["similar_exercises"]]
    assert "e1" not in similar and "e3" not in similar and "other" not in similar
    assert similar[0] == min(["e2", "e4", "e5"], key=lambda e: abs(dict(e2=1, e4=5, e5=3)[e] - target))
    # the exercise answered wrong is shown without its key (it was never answered right)
    assert "answer_key" not in point["exercises"][0]["exercise"]


def test_a_replayed_or_older_exercise_record_changes_nothing() -> None:
    bank = ExerciseBank()
    assert bank.apply(published_exercise("e1", version=2, difficulty=4))
    assert not bank.apply(published_exercise("e1", version=1, difficulty=1))
    assert bank.get("e1").difficulty == 4


def test_most_missed_ranks_points_by_wrong_answers() -> None:
    answers = [
        answer(0, "e1", False, T0, ("a",)),
        answer(1, "e1", False, T0, ("a",)),
        answer(2, "e2", False, T0, ("b",)),
        answer(3, "e2", True, T0, ("b",)),
    ]
    students = {"a0": "s1", "a1": "s2", "a2": "s1", "a3": "s2"}
    ranked = most_missed(answers, students)
    assert [r["knowledge_point"] for r in ranked] == ["a", "b"]
    assert ranked[0]["students_wrong"] == 2 and ranked[1]["wrong_share"] == 0.5
