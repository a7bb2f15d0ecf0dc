"""Events of identity (统一身份认证), all on ``identity.users.v1`` keyed by user id except notification
requests (``identity.notifications.v1``, keyed by notification id).

No event carries a secret or raw personal data: no phone, e-mail, real name, national ID number, password
or one-time code. Org paths (``cn/43/4301/430102/school-…``) and role names are not personal data.

One-time codes reach the user through :class:`NotificationRequested`: its ``sealed`` field is an AES-256-GCM
ciphertext of ``{"to": <phone or e-mail>, "code": <code>}`` under a key only the notification gateway holds
(``sealed_key_id`` names it; the notification id is the associated data, so a sealed payload cannot be
replayed under another notification). Kafka, its backups and every other subscriber see ciphertext only.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from common.contracts.base import Event
from common.topics import IDENTITY_ACCOUNTS, IDENTITY_NOTIFICATIONS, IDENTITY_USERS

AccountKind = Literal["student", "teacher", "parent", "staff"]
USERS_TOPIC = IDENTITY_USERS
NOTIFICATIONS_TOPIC = IDENTITY_NOTIFICATIONS
ACCOUNTS_TOPIC = IDENTITY_ACCOUNTS


class _UserEvent(Event):
    TOPIC: ClassVar[str] = USERS_TOPIC

    user_id: str
    occurred_at: datetime

    def key(self) -> str:
        return self.user_id


class UserRegistered(_UserEvent):
    TYPE: ClassVar[str] = "cn.smartedu.identity.user.registered.v1"

    kind: AccountKind
    login_methods: tuple[Literal["phone", "email"], ...]


class UserUpdated(_UserEvent):
    """Which attributes changed (names only, never values)."""

    TYPE: ClassVar[str] = "cn.smartedu.identity.user.updated.v1"

    changed: tuple[str, ...]


class UserDeactivated(_UserEvent):
    TYPE: ClassVar[str] = "cn.smartedu.identity.user.deactivated.v1"

    by: str
    """User id of who deactivated the account (the user themselves or an admin)."""


class RoleGranted(_UserEvent):
    TYPE: ClassVar[str] = "cn.smartedu.identity.role.granted.v1"

    role: str
    org: str | None
    granted_by: str


class RoleRevoked(_UserEvent):
    TYPE: ClassVar[str] = "cn.smartedu.identity.role.revoked.v1"

    role: str
    org: str | None
    revoked_by: str


class TeacherVerified(_UserEvent):
    """Outcome of real-name verification against the national teacher management information system.
    Only ``verified`` teachers may head an administrative class or earn training hours (学时)."""

    TYPE: ClassVar[str] = "cn.smartedu.identity.teacher.verified.v1"

    outcome: Literal["verified", "rejected"]
    school: str | None
    """Org path of the school the registry lists (verified only)."""
    reason: str | None = None
    """Machine code when rejected (e.g. ``not_found``, ``name_mismatch``)."""


class GuardianLinked(_UserEvent):
    """A parent (``guardian_id``) is now linked to a student (``user_id``, the child)."""

    TYPE: ClassVar[str] = "cn.smartedu.identity.guardian.linked.v1"

    guardian_id: str
    approved_by: str
    approver_role: Literal["head_teacher", "school_admin", "student"]


class NotificationRequested(Event):
    TYPE: ClassVar[str] = "cn.smartedu.identity.notification.requested.v1"
    TOPIC: ClassVar[str] = NOTIFICATIONS_TOPIC

    notification_id: str
    user_id: str
    channel: Literal["sms", "email"]
    template: Literal["password_reset_code"]
    sealed: str
    sealed_key_id: str
    expires_at: datetime

    def key(self) -> str:
        return self.notification_id


class SnapshotRole(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    org: str | None


class AccountSnapshot(Event):
    """The latest state of one account, on the compacted ``identity.accounts.v1`` keyed by user id: written with
    every change of the account (in the same outbox write as the change's event) and republished for every
    account by the backfill (``POST /v1/admin/account-snapshots``). A subscriber that reads the topic from the
    start learns every account, however long ago it was created (``identity.users.v1`` keeps 30 days).

    No PII: the kind, the status, the roles, the teacher verification's outcome and school, the ids of the
    account's approved guardians. ``occurred_at`` is when identity read the state (later snapshots win)."""

    TYPE: ClassVar[str] = "cn.smartedu.identity.account.snapshot.v1"
    TOPIC: ClassVar[str] = ACCOUNTS_TOPIC

    user_id: str
    occurred_at: datetime
    kind: AccountKind
    status: Literal["active", "deactivated"]
    roles: tuple[SnapshotRole, ...]
    teacher_status: Literal["unverified", "pending", "verified", "rejected"]
    school: str | None
    """Org path of the school the national teacher registry lists (verified teachers)."""
    guardian_ids: tuple[str, ...]
    """Approved guardians (parents) of this account (a student)."""

    def key(self) -> str:
        return self.user_id
