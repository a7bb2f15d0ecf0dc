from datetime import timedelta

import pytest

from recommender.domain.behaviour import Behaviour
from recommender.domain.candidates import Pool, natural_key
from recommender.domain.profile import Profile
from recommender.domain.recommend import for_student, for_teacher, similar_resources
from tests.unit.recommender.factories import T0, VERSION, resource, withdrawn

pytestmark = pytest.mark.unit
L = f"{VERSION}/g5b/u1"


def nothing_similar(rid: str, n: int) -> list[str]:
    return []


def textbook() -> Pool:
    pool = Pool()
    for lesson in (1, 2, 3, 10):
        for pos in (0, 1):
            pool.apply(resource(f"r{lesson}-{pos}", f"{L}/l{lesson}", pos))
    return pool


def test_lessons_follow_the_numbers_in_their_ids() -> None:
    assert [lesson.lesson_id.rsplit("/", 1)[1] for lesson in textbook().lessons(VERSION)] == ["l1", "l2", "l3", "l10"]
    assert natural_key("u4/l2") < natural_key("u4/l10") < natural_key("u10/l1")


def test_a_new_student_starts_at_the_first_lesson_of_their_grade() -> None:
    items = for_student(
        textbook(), Behaviour(), "s1", Profile(grade=5, textbook_versions=[VERSION]), {}, nothing_similar
    )
    assert [i.resource_id for i in items[:2]] == ["r1-0", "r1-1"]
    assert items[0].reason_code == "next_lesson" and "下一课时" in items[0].reason


def test_the_next_lessons_come_after_the_furthest_finished_and_finished_ones_never() -> None:
    pool, b = textbook(), Behaviour()
    for rid in ("r1-0", "r1-1", "r2-0"):
        b.finish("s1", rid)
    items = for_student(pool, b, "s1", Profile(grade=5), {}, nothing_similar)
    ids = [i.resource_id for i in items]
    assert ids[:3] == ["r2-1", "r3-0", "r3-1"]
    assert not {"r1-0", "r1-1", "r2-0"} & set(ids)


def test_weak_points_bring_remedial_resources_and_withdrawn_ones_never_come() -> None:
    pool = textbook()
    pool.apply(resource("kp-1", kps=("分数的加法",)))
    pool.apply(resource("kp-2", kps=("分数的加法",)))
    pool.apply(withdrawn("kp-2"))
    items = for_student(pool, Behaviour(), "s1", Profile(), {"分数的加法": 0.2}, nothing_similar)
    weak = [i for i in items if i.reason_code == "weak_point"]
    assert [i.resource_id for i in weak] == ["kp-1"] and weak[0].reason == "weak point: 分数的加法"
    assert "kp-2" not in [i.resource_id for i in items]


def test_popular_in_the_province_for_the_grade() -> None:
    pool, b = textbook(), Behaviour()
    pool.apply(resource("g3", grades=(3,)))
    for n, rid in enumerate(["r3-1", "r3-1", "g3", "g3", "g3", "r10-0"]):
        b.view(f"v{n}", rid, "43", T0 + timedelta(seconds=n), pool)
    items = for_student(pool, b, "new", Profile(grade=5, province="43", subjects=["math"]), {}, nothing_similar)
    popular = [i for i in items if i.reason_code == "popular"]
    assert popular[0].resource_id == "r3-1" and popular[0].reason == "popular in province 43 grade 5 math"
    in_grade = [i.resource_id for i in popular if "grade 5" in i.reason]
    assert in_grade == ["r3-1", "r10-0"]  # g3 is grade 3: only in the platform-wide fill after them


def test_a_finish_by_watch_time_counts_from_the_share_of_the_duration() -> None:
    pool, b = textbook(), Behaviour(finished_share=0.9)
    assert not b.heartbeat("s1", "r1-0", 500, pool)
    assert b.heartbeat("s1", "r1-0", 40, pool)  # 540 of 600 s
    assert "r1-0" in b.finished_by("s1")


def test_teachers_get_materials_and_training_toward_their_hours() -> None:
    pool = textbook()
    pool.apply(resource("t1", section="teacher_training", grades=(), subjects=(), credit_hours=2))
    pool.apply(resource("t2", section="teacher_training", grades=(), subjects=(), credit_hours=3))
    b = Behaviour()
    b.finish("t", "t2")
    items = for_teacher(pool, b, "t", Profile(grades=[5], subjects=["math"]))
    codes = {i.resource_id: i.reason_code for i in items}
    assert codes["t1"] == "training" and "t2" not in codes
    assert any(c == "teaching_material" for c in codes.values())


def test_a_new_training_course_is_not_crowded_out_by_older_or_more_viewed_ones() -> None:
    """However many courses came before it (other terms', other runs' on a reused broker), viewed or not, the
    newest course a teacher has not done is on the first page; a course for another subject's teachers is not."""
    pool, b = textbook(), Behaviour()
    for n in range(40):
        pool.apply(
            resource(
                f"a-old-{n:02}",
                section="teacher_training",
                grades=(),
                subjects=(),
                credit_hours=1,
                published_at=T0 + timedelta(minutes=n),
            )
        )
        b.view(f"v{n}", f"a-old-{n:02}", "43", T0, pool)
    pool.apply(
        resource(
            "z-chinese",
            section="teacher_training",
            grades=(),
            subjects=("chinese",),
            credit_hours=2,
            published_at=T0 + timedelta(days=2),
        )
    )
    pool.apply(
        resource(
            "z-new",
            section="teacher_training",
            grades=(),
            subjects=(),
            credit_hours=2,
            published_at=T0 + timedelta(days=1),
        )
    )
    items = for_teacher(pool, b, "t", Profile(grades=[5], subjects=["math"]), limit=10)
    training = [i.resource_id for i in items if i.reason_code == "training"]
    assert training[0] == "z-new" and "z-chinese" not in training
    b.finish("t", "z-new")
    training = [
        i.resource_id for i in for_teacher(pool, b, "t", Profile(subjects=["math"])) if i.reason_code == "training"
    ]
    assert "z-new" not in training and training[0] == "a-old-39"


def test_similar_resources_start_with_the_same_lesson() -> None:
    items = similar_resources(textbook(), "r2-0", lambda rid, n: ["r10-1"])
    assert [i.resource_id for i in items] == ["r2-1", "r10-1"]
