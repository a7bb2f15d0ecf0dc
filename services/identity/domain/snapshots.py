"""The account snapshot (``AccountSnapshot`` on the compacted ``identity.accounts.v1``): an account's latest state
without PII, for subscribers that must know accounts older than ``identity.users.v1``'s retention (class groups'
directory). Pure: what an update leaves of an account, and the snapshot of an account."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from common.auth import Role
from common.contracts.identity import AccountSnapshot, SnapshotRole
from identity.domain.accounts import Account

# the fields of an account a snapshot shows: an update of no other field (a password, a sealed phone) publishes one
SNAPSHOT_FIELDS = frozenset({"status", "teacher_status", "school", "kind"})


def after_update(
    account: Account, fields: dict[str, Any] | None, add_role: Role | None, remove_role: Role | None
) -> Account:
    """The account as :meth:`identity.store.accounts.AccountStore.update` leaves it."""
    changes = {k: v for k, v in (fields or {}).items() if k in SNAPSHOT_FIELDS}
    roles = [r for r in account.roles if r != remove_role]
    if add_role is not None and add_role not in roles:
        roles.append(add_role)
    return replace(account, roles=roles, **changes)


def snapshot(account: Account, guardians: Iterable[str], at: datetime) -> AccountSnapshot:
    return AccountSnapshot(
        user_id=account.id,
        occurred_at=at,
        kind=account.kind,
        status=account.status,
        roles=tuple(SnapshotRole(role=r.name, org=r.org) for r in account.roles),
        teacher_status=account.teacher_status,
        school=account.school,
        guardian_ids=tuple(sorted(set(guardians))),
    )
