"""Accounts (账号): registration, login decisions, lockout, password reset codes, deactivation.

Identifiers at 100 million accounts: an account's ``_id`` is ``u_<32 hex>`` (random, reveals nothing, spreads
evenly over shards); each login identifier has an index document whose ``_id`` is
``login:<phone|email>:<HMAC-SHA256 of the normalised value>`` holding the account id, so login, duplicate
checks and password reset are two ``_id`` lookups, never a scan. Inserting the index document is the
uniqueness check (insert of a unique ``_id`` is atomic even on FerretDB): a duplicate phone is a 409.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from common.auth import Role

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
    """Failed logins per subject (an account's lookup hash, or a client IP) in a sliding-ish window; after
    ``max_failures`` the subject is locked for ``lock_seconds``, doubling on each further lock up to
    ``max_lock_seconds``. IPs get a larger budget: a school's NAT puts hundreds of pupils behind one IP."""

    max_failures: int = 5
    window_seconds: int = 900
    lock_seconds: int = 300
    max_lock_seconds: int = 3600


@dataclass
class ThrottleState:
    failures: int = 0
    window_start: float = 0.0
    locked_until: float = 0.0
    locks: int = 0

    def locked(self, now: float) -> float:
        """Seconds left of a lock (0: not locked)."""
        return max(0.0, self.locked_until - now)

    def fail(self, policy: ThrottlePolicy, now: float) -> None:
        if now - self.window_start > policy.window_seconds:
            self.failures, self.window_start = 0, now
        self.failures += 1
        if self.failures >= policy.max_failures:
            self.locks += 1
            self.locked_until = now + min(policy.max_lock_seconds, policy.lock_seconds * 2 ** (self.locks - 1))
            self.failures, self.window_start = 0, now

    def succeed(self) -> None:
        self.failures = 0


# --- one-time codes ----------------------------------------------------------------------------------------
def new_reset_code() -> str:
    """6 digits (what an SMS user types); guessing is bounded by ``RESET_MAX_ATTEMPTS`` per code."""
    return f"{secrets.randbelow(10**6):06d}"


RESET_MAX_ATTEMPTS = 5
RESET_TTL = timedelta(minutes=10)


@dataclass
class ResetCode:
    user_id: str
    digest: str  # HMAC of the code with the lookup key (a 6-digit code's plain SHA-256 is trivially reversed)
    expires_at: datetime
    attempts: int = 0
    used: bool = False

    def usable(self, now: datetime) -> bool:
        return not self.used and self.attempts < RESET_MAX_ATTEMPTS and now < self.expires_at
