"""Accounts: registration (实名注册), the caller's own profile and those an admin governs, deactivation, password
changes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from common.auth import Principal
from common.contracts.identity import UserDeactivated, UserRegistered, UserUpdated
from common.errors import Conflict, Forbidden, Invalid, NotFound, invalid_input
from identity.domain import authz, crypto
from identity.domain.accounts import Account, login_id, new_user_id, registration_identifiers
from identity.handlers.base import Handler, now

# A registration claims its identifiers, then saves the account, within a second; older claims without an
# account are left by a crash.
STALE_LOGIN_CLAIM_SECONDS = 120


def account_not_found() -> NotFound:
    return NotFound("Account not found", code="account_not_found")


class Accounts(Handler):
    # --- identifiers ------------------------------------------------------------------------------------------
    def identifier(self, raw: str) -> tuple[str, str]:
        """(method, normalised) of a phone number or an e-mail address."""
        with invalid_input("body.identifier", code="identifier"):
            if "@" in raw:
                return "email", crypto.normalise_email(raw)
            return "phone", crypto.normalise_phone(raw)

    def login_key(self, method: str, value: str) -> str:
        return login_id(method, self.vault.lookup_hash(method, value))

    async def account_for(self, identifier: str) -> tuple[str, Account | None]:
        """The login key of a phone or e-mail and the account holding it, if any."""
        key = self.login_key(*self.identifier(identifier))
        owner = await self.store.accounts.login_owner(key)
        return key, (await self.store.accounts.account(owner) if owner else None)

    # --- registration -----------------------------------------------------------------------------------------
    async def register(
        self,
        *,
        phone: str | None,
        email: str | None,
        password: str,
        real_name: str,
        kind: str,
        birth_date: date | None,
        client_ip: str | None = None,
    ) -> Account:
        """``client_ip`` None (an operator's tool, not a request) skips the per-IP limit."""
        idents, problems = registration_identifiers(phone, email, password)
        if problems:  # the API lists them field by field before it gets here; other callers (bootstrap) get all
            first = problems[0]
            raise Invalid("; ".join(p["message"] for p in problems), code=first["code"], field=first["field"])
        keys = {m: self.login_key(m, v) for m, v in idents.items()}
        await self.identity.limits.registration(client_ip, list(keys.values()), now().timestamp())  # before Argon2
        user_id = new_user_id()
        # Argon2 runs in a worker thread: cffi releases the GIL, so hashes run in parallel and the event
        # loop keeps serving other requests meanwhile
        password_hash = await asyncio.to_thread(self.identity.passwords.hash, password)
        claimed = []
        try:
            for method, key in keys.items():
                if not await self._claim_login(key, user_id):
                    raise Conflict(f"This {method} is already registered.", code=f"duplicate_{method}")
                claimed.append(key)
            account = Account(
                id=user_id,
                kind=kind,  # type: ignore[arg-type]
                status="active",
                password_hash=password_hash,
                name_enc=self.vault.encrypt(crypto.nfc(real_name), field="name", owner=user_id),
                logins=dict(keys),
                phone_enc=self._sealed(idents, "phone", user_id),
                email_enc=self._sealed(idents, "email", user_id),
                birth_date=birth_date,
                created_at=now(),
                password_changed_at=now(),
            )
            registered = UserRegistered(
                user_id=user_id,
                occurred_at=now(),
                kind=kind,  # type: ignore[arg-type]
                login_methods=tuple(idents),
            )
            if not await self.store.accounts.create(account, registered):
                raise Conflict("The account id is taken.", code="duplicate_account")  # 128 random bits: never
        except BaseException:
            for key in claimed:  # give the identifier back so the user can retry
                await self.store.accounts.release_login(key, user_id)
            raise
        return account

    def _sealed(self, idents: dict[str, str], method: str, user_id: str) -> str | None:
        return self.vault.encrypt(idents[method], field=method, owner=user_id) if method in idents else None

    async def _claim_login(self, key: str, user_id: str) -> bool:
        """Claim a phone or e-mail for a new account. A claim whose account was never saved (the process died
        between the two inserts, so the usual release did not run) is taken over once it is stale."""
        logins = self.store.accounts
        if await logins.claim_login(key, user_id):
            return True
        claim = await logins.login_claim(key)
        if (
            claim is None
            or claim["at"] > now() - timedelta(seconds=STALE_LOGIN_CLAIM_SECONDS)
            or await logins.account(claim["user_id"]) is not None
        ):
            return False
        await logins.release_login(key, claim["user_id"])
        return await logins.claim_login(key, user_id)  # False again: another registration won the race

    # --- profiles ---------------------------------------------------------------------------------------------
    async def me(self, who: Principal) -> Account:
        account = await self.store.accounts.account(who.subject)
        if account is None or not account.active:
            raise account_not_found()
        return account

    async def my_profile(self, who: Principal) -> dict[str, Any]:
        return self.profile(await self.me(who))

    async def view(self, who: Principal, user_id: str) -> dict[str, Any]:
        """Oneself, or an account an admin governs (see :mod:`identity.domain.authz`)."""
        account = await self.store.accounts.account(user_id)
        if account is None:
            raise account_not_found()
        if who.subject != user_id:
            authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=False)
        return self.profile(account)

    def real_name(self, account: Account) -> str:
        return self.vault.decrypt(account.name_enc, field="name", owner=account.id)

    def profile(self, account: Account) -> dict[str, Any]:
        def masked(enc: str | None, field: str) -> str | None:
            if enc is None:
                return None
            v = self.vault.decrypt(enc, field=field, owner=account.id)
            return v[:3] + "****" + v[-4:] if field == "phone" else v[0] + "***" + v[v.index("@") :]

        return {
            "user_id": account.id,
            "kind": account.kind,
            "status": account.status,
            "real_name": self.real_name(account),
            "phone": masked(account.phone_enc, "phone"),
            "email": masked(account.email_enc, "email"),
            "roles": [r.claim() for r in account.roles],
            "teacher_status": account.teacher_status,
            "school": account.school,
        }

    async def deactivate(self, who: Principal, user_id: str) -> None:
        account = await self.store.accounts.account(user_id)
        if account is None:
            raise account_not_found()
        if who.subject != user_id:
            # every place the account holds, not only its first: a school admin who made a ministry admin a
            # pupil of their school must still not reach it
            authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=False)
            await self.store.audit.record(who.subject, "deactivate", user_id)
        # a conditional transition: of parallel deactivations, one writes its event
        await self.store.accounts.update(
            user_id,
            fields={"status": "deactivated"},
            where={"status": "active"},
            events=(UserDeactivated(user_id=user_id, occurred_at=now(), by=who.subject),),
        )

    # --- passwords --------------------------------------------------------------------------------------------
    async def change_password(self, who: Principal, current: str, new: str) -> None:
        account = await self.me(who)
        if not await asyncio.to_thread(self.identity.passwords.verify, account.password_hash, current):
            raise Forbidden("Current password is wrong", code="wrong_password")
        await self.set_password(account, new)

    @staticmethod
    def check_password(new: str) -> None:
        problems = crypto.password_problems(new)
        if problems:
            raise Invalid("; ".join(problems), code="password_policy", field="body.new_password")

    async def set_password(self, account: Account, new: str) -> None:
        self.check_password(new)
        # two fields of the account, nothing else (a role granted meanwhile survives); the new
        # ``password_changed_at`` revokes every refresh token of a session that began before it
        await self.store.accounts.update(
            account.id,
            fields={
                "password_hash": await asyncio.to_thread(self.identity.passwords.hash, new),
                "password_changed_at": now(),
            },
            events=(UserUpdated(user_id=account.id, occurred_at=now(), changed=("password",)),),
        )
