"""The per-replica state a page is served from: answers from three sources folded once each, whatever their order,
into the same state a fold of all of them gives; classes from class groups' events."""

from datetime import timedelta

import pytest

from common.contracts.classgroups import (
    ClassCreated,
    MemberJoined,
    MemberLeft,
    OwnershipTransferred,
    SubjectTeacher,
    TeachersAssigned,
)
from recommender.domain.bkt import stored_model
from recommender.domain.classes import Classes
from recommender.domain.learners import Learners, Profiles
from recommender.domain.notebook import GradedAnswer, fold
from recommender.domain.profile import Profile
from tests.unit.recommender.factories import T0

pytestmark = pytest.mark.unit


def graded(n: int, correct: bool, kp: str = "分数的加法") -> GradedAnswer:
    return GradedAnswer(f"s1:sub{n}:e{n}", f"e{n}", 1, "math", (kp,), correct, T0 + timedelta(minutes=n))


def test_answers_repeated_or_late_fold_to_the_same_state_as_all_of_them_in_order() -> None:
    answers = [graded(n, n % 3 == 0) for n in range(8)]
    learners = Learners(stored_model())
    assert learners.add("s1", answers[:5]) == 5
    before = dict(learners.mastery("s1"))
    assert learners.add("s1", answers[2:4]) == 0  # the topic brings back what the store had
    assert learners.mastery("s1") == before
    learners.add("s1", [answers[7], answers[5]])  # another replica's answer arrives before an older one
    learners.add("s1", [answers[6]])
    whole = fold(stored_model(), answers)
    assert learners.mastery("s1") == whole.mastery
    assert learners.learning("s1").notebook.keys() == whole.notebook.keys()
    assert [a.answer_id for a in learners.answers_of("s1")] == [a.answer_id for a in answers]


def test_a_fresh_copy_for_a_grading_leaves_the_held_state_alone() -> None:
    learners = Learners(stored_model())
    learners.add("s1", [graded(0, False)])
    held = dict(learners.mastery("s1"))
    learners.fresh("s1").apply(graded(1, True))
    assert learners.mastery("s1") == held


def test_the_latest_profile_wins_whatever_the_order() -> None:
    profiles = Profiles()
    profiles.set("u", Profile(grade=5), T0 + timedelta(seconds=2))
    profiles.set("u", Profile(grade=4), T0)  # an older event replayed after this replica's own write
    assert profiles.get("u").grade == 5 and profiles.get("nobody") is None


def test_a_teacher_teaches_the_classes_they_own_or_are_assigned_to_and_members_come_and_go() -> None:
    classes = Classes()
    created = ClassCreated(
        class_id="a",
        occurred_at=T0,
        kind="administrative",
        school="s",
        school_year=2026,
        grade=5,
        owner_id=None,
        created_by="adm",
    )
    assigned = TeachersAssigned(
        class_id="a",
        occurred_at=T0,
        head_teacher_id="head",
        subject_teachers=(SubjectTeacher(teacher_id="math-t", subject="math"),),
        assigned_by="adm",
    )
    online = ClassCreated(
        class_id="b",
        occurred_at=T0,
        kind="online",
        school=None,
        school_year=None,
        grade=None,
        owner_id="own",
        created_by="own",
    )
    for e in (created, assigned, assigned, online):
        classes.apply(e)
    for s in ("s1", "s2"):
        classes.apply(MemberJoined(class_id="a", occurred_at=T0, account_id=s, via="roster", by="adm"))
    classes.apply(MemberLeft(class_id="a", occurred_at=T0, account_id="s1", reason="removed", by="adm"))
    assert classes.members_of("a") == {"s2"} and classes.members_of("b") == set()
    assert classes.taught_by("head") == {"a"} == classes.taught_by("math-t")
    assert classes.taught_by("own") == {"b"} and classes.taught_by("nobody") == set()
    classes.apply(
        TeachersAssigned(class_id="a", occurred_at=T0, head_teacher_id="head", subject_teachers=(), assigned_by="adm")
    )
    assert classes.taught_by("math-t") == set() and classes.taught_by("head") == {"a"}
    classes.apply(OwnershipTransferred(class_id="b", occurred_at=T0, previous_owner_id="own", owner_id="new"))
    assert classes.taught_by("own") == set() and classes.taught_by("new") == {"b"}
