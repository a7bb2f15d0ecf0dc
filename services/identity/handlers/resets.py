"""Password reset by a one-time code sent by SMS or e-mail (through the notification gateway, sealed)."""

from __future__ import annotations

import uuid

from common.contracts.identity import NotificationRequested
from common.errors import DomainError
from identity.domain import crypto
from identity.domain.accounts import RESET_MAX_ATTEMPTS, RESET_TTL, ResetCode, new_reset_code
from identity.handlers.base import Handler, now


def code_invalid() -> DomainError:
    # a plain 400 (the base domain error), the same for an unknown account, a wrong, used or expired code and a
    # code whose guesses are spent: the caller learns nothing more
    return DomainError("Code invalid or expired", code="reset_code_invalid")


class Resets(Handler):
    def _digest(self, user_id: str, code: str) -> str:
        return self.vault.lookup_hash("reset", f"{user_id}:{code}")

    async def request(self, identifier: str, client_ip: str | None = None) -> None:
        """Always answers the same; only a real, active account gets a code. Limited per IP and per identifier
        (whether or not it has an account, so a 429 reveals nothing): bounds SMS flooding of a phone, and the
        guesses of codes (``RESET_MAX_ATTEMPTS`` per code) that a new code no longer resets."""
        accounts = self.identity.accounts
        method, value = accounts.identifier(identifier)
        key = accounts.login_key(method, value)
        await self.identity.limits.reset_request(client_ip, key, now().timestamp())
        owner = await self.store.accounts.login_owner(key)
        account = await self.store.accounts.account(owner) if owner else None
        if account is None or not account.active:
            return
        code = new_reset_code()
        notification_id = uuid.uuid4().hex
        # sealed for the gateway: the stored outbox entry and the topic hold no phone, e-mail or code in clear
        sealed = crypto.seal_for_gateway(
            self.s.notify_key, self.s.notify_key_id, {"to": value, "code": code}, reference=notification_id
        )
        await self.store.resets.save(
            ResetCode(account.id, self._digest(account.id, code), now() + RESET_TTL),
            NotificationRequested(
                notification_id=notification_id,
                user_id=account.id,
                channel="sms" if method == "phone" else "email",
                template="password_reset_code",
                sealed=sealed,
                sealed_key_id=self.s.notify_key_id,
                expires_at=now() + RESET_TTL,
            ),
        )

    async def confirm(self, identifier: str, code: str, new_password: str) -> None:
        accounts = self.identity.accounts
        _, account = await accounts.account_for(identifier)
        pending = await self.store.resets.pending(account.id) if account else None
        if account is None or pending is None or not pending.usable(now()):
            raise code_invalid()
        # each guess takes one of the code's slots first (an insert: parallel guesses cannot pass the cap);
        # with no slot left the code is dead, right or not
        attempt = await self.store.counters.claim_slot(
            "resets", f"reset-attempt:{pending.code_id}", RESET_MAX_ATTEMPTS, expires_at=pending.expires_at
        )
        if attempt is None or self._digest(account.id, code) != pending.digest:
            raise code_invalid()
        accounts.check_password(new_password)  # a refused password spends a guess, not the code
        if not await self.store.resets.use(pending):
            raise code_invalid()
        await accounts.set_password(account, new_password)
