"""Accounts (账号): registration, login decisions, lockout, password reset codes, deactivation.

Identifiers at 100 million accounts: an account's ``_id`` is ``u_<32 hex>`` (random, reveals nothing, spreads
evenly over shards); each login identifier has an index document whose ``_id`` is
``login:<phone|email>:<HMAC-SHA256 of the normalised value>`` holding the account id, so login, duplicate
checks and password reset are two ``_id`` lookups, never a scan. Inserting the index document is the
uniqueness check (insert of a unique ``_id`` is atomic even on FerretDB): a duplicate phone is a 409.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from common.auth import Role
from identity.domain import crypto

Kind = Literal["student", "teacher", "parent", "staff"]
TeacherStatus = Literal["unverified", "pending", "verified", "rejected"]


def new_user_id() -> str:
    return f"u_{uuid.uuid4().hex}"


def login_id(method: str, lookup_hash: str) -> str:
    return f"login:{method}:{lookup_hash}"


@dataclass
class Account:
    id: str
    kind: Kind
    status: Literal["active", "deactivated"]
    password_hash: str
    name_enc: str
    logins: dict[str, str]  # method -> lookup hash (the index documents' keys)
    phone_enc: str | None = None
    email_enc: str | None = None
    national_id_enc: str | None = None
    birth_date: date | None = None
    roles: list[Role] = field(default_factory=list)
    teacher_status: TeacherStatus = "unverified"
    school: str | None = None
    created_at: datetime | None = None
    password_changed_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def age_on(self, today: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    def grant(self, role: Role) -> bool:
        if role in self.roles:
            return False
        self.roles.append(role)
        return True

    def revoke(self, role: Role) -> bool:
        if role not in self.roles:
            return False
        self.roles.remove(role)
        return True


# --- lockout ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed logins per subject (an account's lookup hash, or a client IP) in a fixed window; the attempt that
    takes the ``max_failures``-th slot and fails locks the subject for ``lock_seconds``, doubling with each
    further lock (``generation``) up to ``max_lock_seconds``. IPs get a larger budget: a school's NAT puts
    hundreds of pupils behind one IP."""

    max_failures: int = 5
    window_seconds: int = 900
    lock_seconds: int = 300
    max_lock_seconds: int = 3600

    def lock_for(self, generation: int) -> int:
        """Seconds of the lock that ends generation ``generation`` (0 for the first lock)."""
        return min(self.max_lock_seconds, self.lock_seconds * 2 ** min(generation, 30))

    def counter(self, subject: str, generation: int, now: float) -> str:
        """The slot counter of failures of ``subject`` in this generation and window (the ``_id`` prefix of
        its slot documents): a new generation starts after each lock, a new window every ``window_seconds``."""
        return f"thr:{subject}:{generation}:{int(now // self.window_seconds)}"

    def window_end(self, now: float) -> float:
        return (int(now // self.window_seconds) + 1) * self.window_seconds


@dataclass(frozen=True)
class RateLimit:
    """At most ``max`` requests of one ``action`` per subject (an identifier's lookup hash, or a client IP) in a
    fixed window of ``window_seconds``; counted with slot documents, so the bound holds across replicas."""

    action: str
    max: int
    window_seconds: int

    def counter(self, subject: str, now: float) -> str:
        return f"rl:{self.action}:{subject}:{int(now // self.window_seconds)}"

    def window_end(self, now: float) -> float:
        return (int(now // self.window_seconds) + 1) * self.window_seconds

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.window_end(now) - now))


def registration_identifiers(
    phone: str | None, email: str | None, password: str
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A registration's normalised identifiers (method → value) and the problems of its fields, each as
    ``{field, message, code}``: at least one identifier, each well-formed, a password within the policy."""
    idents: dict[str, str] = {}
    problems = []
    for method, raw, norm in (("phone", phone, crypto.normalise_phone), ("email", email, crypto.normalise_email)):
        if raw:
            try:
                idents[method] = norm(raw)
            except ValueError as exc:
                problems.append({"field": f"body.{method}", "message": str(exc), "code": method})
    if not idents and not problems:
        problems.append(
            {"field": "body.phone", "message": "a phone number or an e-mail is required", "code": "required"}
        )
    for p in crypto.password_problems(password, personal=tuple(idents.values())):
        problems.append({"field": "body.password", "message": p, "code": "password_policy"})
    return idents, problems


# --- one-time codes ----------------------------------------------------------------------------------------
def new_reset_code() -> str:
    """6 digits (what an SMS user types); guessing is bounded by ``RESET_MAX_ATTEMPTS`` per code."""
    return f"{secrets.randbelow(10**6):06d}"


RESET_MAX_ATTEMPTS = 5
RESET_TTL = timedelta(minutes=10)


@dataclass
class ResetCode:
    """The pending code of an account; a new request replaces it. Its guesses are slot documents
    ``reset-attempt:<code_id>:<n>`` (n ≤ ``RESET_MAX_ATTEMPTS``) and its use a ``reset-used:<code_id>`` document,
    both claimed by inserts, so parallel confirms cannot pass the cap or use a code twice."""

    user_id: str
    digest: str  # HMAC of the code with the lookup key (a 6-digit code's plain SHA-256 is trivially reversed)
    expires_at: datetime
    code_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def usable(self, now: datetime) -> bool:
        return now < self.expires_at
