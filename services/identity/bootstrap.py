"""The first ministry admin of a deployment: a one-time step an operator runs, never a side effect of
registration or of a start.

    IDENTITY_BOOTSTRAP_PASSWORD=... python -m identity.bootstrap --phone 13800000000 --real-name 张三
    python -m identity.bootstrap --phone 13800000000 < password-file      # or the password on stdin

It runs with the identity service's own environment (store, keys, Kafka), e.g. ``kubectl exec`` into an identity
pod. It creates the account (kind ``staff``) with the password given, or, when the phone is registered already,
takes that account only if the password given is its password (whoever registered the phone first cannot be
made admin by someone else's step). Then it grants ``ministry_admin``, audited and published like any grant
(through the outbox: the step waits for its relay to publish, and what it could not publish, Kafka being down,
the service's relay publishes later).

It refuses (exit status 3) once a ministry admin exists or the step ran before: the insert of one
``bootstrap:ministry_admin`` document is the atomic claim, so two operators running it at once make one admin.
Further admins are granted by a ministry admin through ``POST /v1/role-grants``; a revoked one stays revoked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from common.auth import MINISTRY_ADMIN, Role
from common.errors import DomainError
from identity.domain import crypto
from identity.handlers import Identity

PASSWORD_ENV = "IDENTITY_BOOTSTRAP_PASSWORD"
REFUSED = 3


class BootstrapRefused(Exception):
    pass


async def bootstrap_ministry_admin(service: Identity, *, phone: str, password: str, real_name: str) -> str:
    """Returns the new ministry admin's account id. Raises :class:`BootstrapRefused` or a domain error (a password
    the policy refuses, a rate limit)."""
    store = service.store.accounts
    if await store.any_ministry_admin():
        raise BootstrapRefused("a ministry admin exists: grant further admins through the API")
    if not await store.claim_bootstrap():
        raise BootstrapRefused("the bootstrap step ran already")
    try:
        _, account = await service.accounts.account_for(phone)
        if account is None:
            account = await service.accounts.register(
                phone=phone, email=None, password=password, real_name=real_name, kind="staff", birth_date=None
            )
        elif not account.active or not await asyncio.to_thread(
            service.passwords.verify, account.password_hash, password
        ):
            raise BootstrapRefused("the phone is registered and the password given is not its password")
        # the same guarded grant, event and audit as an admin's grant through the API
        await service.roles.apply(account, Role(name=MINISTRY_ADMIN), grant=True, by="bootstrap")
    except BaseException:
        await store.release_bootstrap()  # nothing was granted: the operator may run it again
        raise
    return account.id


async def _run(phone: str, password: str, real_name: str) -> int:
    from common.service import ServiceKit
    from identity.registry import TeacherRegistry
    from identity.settings import IdentitySettings
    from identity.store import IdentityStore, declare_outbox

    settings = IdentitySettings()
    kit = ServiceKit("identity", settings)
    declare_outbox(kit.outbox)
    registry = TeacherRegistry(settings.teacher_registry_url)
    service = Identity(settings, IdentityStore(kit.store.db, kit.outbox), registry)
    await kit.broker.connect()
    kit.outbox.relay.start()
    try:
        user_id = await bootstrap_ministry_admin(service, phone=phone, password=password, real_name=real_name)
    except BootstrapRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return REFUSED
    except DomainError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return REFUSED
    finally:
        await kit.outbox.relay.stop(settings.shutdown_grace_seconds / 2)  # publishes what it holds, or leaves it
        await kit.broker.stop()
        await kit.store.close()
        await registry.close()
    print(f"ministry admin created: {user_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m identity.bootstrap", description=__doc__.split("\n\n")[0])
    p.add_argument("--phone", required=True, help="the first ministry admin's phone (its login)")
    p.add_argument("--real-name", default="平台管理员", help="real name (stored encrypted)")
    a = p.parse_args(argv)
    # never on the command line: it would stay in the shell history and in every process listing
    password = os.environ.get(PASSWORD_ENV) or sys.stdin.readline().rstrip("\n")
    if not password:
        print(f"refused: no password (set {PASSWORD_ENV} or pass it on stdin)", file=sys.stderr)
        return 2
    try:
        crypto.normalise_phone(a.phone)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(a.phone, password, crypto.nfc(a.real_name)))


if __name__ == "__main__":
    sys.exit(main())
