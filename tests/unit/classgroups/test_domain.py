"""The class groups' pure rules: the directory's merge of identity's events, roster parsing, class codes,
membership transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classgroups.domain import classes, codes, directory, roster
from classgroups.domain.directory import Account
from common.contracts.identity import RoleGranted, RoleRevoked, TeacherVerified, UserRegistered
from common.errors import Conflict, Forbidden, Gone, Invalid

pytestmark = pytest.mark.unit
T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
SCHOOL = "cn/43/4301/430102/school-430102001"


def _apply(events: list[tuple[str, object]]) -> Account:
    account = None
    for event_id, event in events:
        account = directory.apply(account, "u1", event, event_id) or account
    assert account is not None
    return account


def test_role_grant_and_revocation_commute_and_repeat() -> None:
    """Whatever order identity's events arrive in, and however often, the latest fact wins."""
    grant = RoleGranted(user_id="u1", occurred_at=T0, role="student", org=SCHOOL, granted_by="a")
    revoke = RoleRevoked(user_id="u1", occurred_at=T0 + timedelta(days=30), role="student", org=SCHOOL, revoked_by="a")
    in_order = _apply([("e1", grant), ("e2", revoke)])
    reversed_ = _apply([("e2", revoke), ("e1", grant)])
    repeated = _apply([("e1", grant), ("e2", revoke), ("e1", grant)])
    assert not in_order.is_student_of(SCHOOL)
    assert not reversed_.is_student_of(SCHOOL)
    assert not repeated.is_student_of(SCHOOL)


def test_an_applied_event_id_is_skipped() -> None:
    registered = UserRegistered(user_id="u1", occurred_at=T0, kind="student", login_methods=("phone",))
    account = directory.apply(None, "u1", registered, "e1")
    assert account is not None and account.kind == "student"
    assert directory.apply(account, "u1", registered, "e1") is None


def test_verification_makes_a_teacher_of_the_school_and_a_late_rejection_does_not_undo_it() -> None:
    ok = TeacherVerified(user_id="u1", occurred_at=T0 + timedelta(hours=1), outcome="verified", school=SCHOOL)
    old_no = TeacherVerified(user_id="u1", occurred_at=T0, outcome="rejected", school=None, reason="not_found")
    account = _apply([("e1", ok), ("e0", old_no)])
    assert account.is_verified_teacher(SCHOOL) and account.is_verified_teacher()
    assert not account.is_verified_teacher("cn/44/4401/440106/school-440106001")


def test_roster_jsonl_keeps_good_rows_and_reports_bad_ones() -> None:
    body = (
        b'{"account_id": "u-1"}\n\nnot json\n{"account_id": "u-1"}\n{"account_id": "bad id!"}\n[1]\n'
        b'{"account_id":"u-2"}'
    )
    parsed = roster.parse(body, "application/x-ndjson")
    assert parsed.rows == [(1, "u-1"), (7, "u-2")]
    assert [(b.line, b.reason) for b in parsed.bad] == [(3, "not_json"), (5, "bad_account_id"), (6, "bad_account_id")]
    assert parsed.repeated == 1


def test_roster_csv_needs_its_header() -> None:
    parsed = roster.parse("\ufeffaccount_id,name\nu-1,x\n,y\nu-2,z\n".encode(), "text/csv")
    assert parsed.rows == [(2, "u-1"), (4, "u-2")]
    assert [(b.line, b.reason) for b in parsed.bad] == [(3, "bad_account_id")]
    assert roster.parse(b"id\nu-1\n", "text/csv").bad[0].reason == "missing_header"


def test_codes_are_typable_and_expire() -> None:
    code = codes.ClassCode.issue("cls-1", "t", T0, timedelta(hours=1))
    assert codes.PATTERN.match(code.code)
    assert codes.normalise(f" {code.code[:4].lower()}-{code.code[4:]} ") == code.code
    assert code.redeem(T0) == "cls-1"
    with pytest.raises(Gone):
        code.redeem(T0 + timedelta(hours=1))


def _teacher(uid: str, school: str | None = SCHOOL) -> Account:
    return Account(uid, "teacher", verified=True, school=school)


def test_online_class_rules() -> None:
    with pytest.raises(Forbidden):
        classes.create_online(name="x", owner=Account("t", "teacher"), approval_required=False, at=T0)
    cls, events = classes.create_online(name="x", owner=_teacher("t"), approval_required=True, at=T0)
    assert cls.owner == "t" and events[0].kind == "online"
    student = Account("s", "student")
    pending = classes.join(cls, student, None, "code", T0)
    assert pending.status == "pending"
    with pytest.raises(Conflict):
        classes.join(cls, student, pending, "code", T0)
    active = classes.decide(cls, pending, True, "t", T0)
    assert active.status == "active" and active.version == 2
    with pytest.raises(Forbidden):
        classes.join(cls, Account("p", "parent"), None, "code", T0)
    with pytest.raises(Conflict):
        classes.transfer(cls, _teacher("t"), T0)
    moved, _ = classes.transfer(cls, _teacher("t2", None), T0)
    assert moved.owner == "t2" and "t" not in moved.teachers()


def test_administrative_class_teachers_must_be_verified_teachers_of_the_school() -> None:
    cls, _ = classes.create_administrative(school=SCHOOL, school_year=2026, grade=7, name="2026级3班", by="a", at=T0)
    accounts = {"h": _teacher("h"), "m": _teacher("m"), "far": _teacher("far", "cn/44/x"), "u": Account("u", "teacher")}
    after, events = classes.assign_teachers(
        cls, head_teacher="h", subject_teachers=[("m", "math")], accounts=accounts, by="a", at=T0
    )
    assert after.teachers() == {"h", "m"} and events[0].subject_teachers[0].subject == "math"
    for head, subjects, field in [
        ("far", [], "head_teacher_id"),
        ("u", [], "head_teacher_id"),
        (None, [("m", "Math!")], "subject_teachers.0.subject"),
        (None, [("m", "math"), ("nobody", "art")], "subject_teachers.1.teacher_id"),
    ]:
        with pytest.raises(Invalid) as refused:
            classes.assign_teachers(cls, head_teacher=head, subject_teachers=subjects, accounts=accounts, by="a", at=T0)
        assert refused.value.field == field
    # a student of another school is not rosterable; a deactivated one neither
    assert classes.check_rosterable(cls, Account("s", "student")) == "not_a_student_of_the_school"
    assert classes.check_rosterable(cls, None) == "unknown_account"


def test_terms_follow_the_school_year() -> None:
    from datetime import date

    from classgroups.domain.evaluation import term_name, term_of

    assert term_of(date(2026, 9, 1)) == "2026-1"
    assert term_of(date(2027, 1, 20)) == "2026-1"
    assert term_of(date(2027, 2, 20)) == "2026-2"
    assert term_name("2026-2") == "2026学年第二学期"


def test_term_chart_is_an_svg_with_the_five_dimensions() -> None:
    from classgroups.domain.charts import term_chart

    svg = term_chart("2026-1", {"moral": 3, "physical": -2, "labour": 7})
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for name in "德智体美劳":
        assert name in svg
