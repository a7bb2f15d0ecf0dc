"""Limits on guessing and flooding: failed logins per account and per client IP (locks), and rate limits of
registrations and password-reset requests. Every count is a set of slot documents claimed by inserts
(``CounterStore.claim_slot``): an insert of a unique ``_id`` is atomic on FerretDB as on MongoDB, so parallel
requests cannot pass a cap, and the bound holds across replicas (an in-memory limiter would multiply it by the
replica count, and a load balancer spreads one client over all of them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.errors import Limited
from identity.domain.accounts import RateLimit, ThrottlePolicy
from identity.settings import IdentitySettings
from identity.store.counters import CounterStore

# A subject's locks are kept this long after they ended: each lock within it doubles the next one.
LOCK_MEMORY = timedelta(days=1)
COLLECTION = "throttle"


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class FailureSlot:
    """A login attempt's place in one subject's failure counter, taken before the password is checked."""

    subject: str
    policy: ThrottlePolicy
    generation: int
    counter: str
    n: int
    earlier: int  # failure slots taken before this one


@dataclass(frozen=True)
class LoginAttempt:
    account: FailureSlot
    ip: FailureSlot


class Limits:
    def __init__(self, settings: IdentitySettings, store: CounterStore) -> None:
        self.store = store
        self.account_policy = ThrottlePolicy(
            max_failures=settings.login_max_failures, lock_seconds=settings.login_lock_seconds
        )
        self.ip_policy = ThrottlePolicy(
            max_failures=settings.login_ip_max_failures, lock_seconds=settings.login_lock_seconds
        )
        window = settings.rate_window_seconds
        self.register_per_ip = RateLimit("register-ip", settings.register_max_per_ip, window)
        self.register_per_identifier = RateLimit("register-id", settings.register_max_per_identifier, window)
        self.reset_per_ip = RateLimit("reset-ip", settings.reset_max_per_ip, window)
        self.reset_per_identifier = RateLimit(
            "reset-id", settings.reset_max_per_identifier, settings.reset_identifier_window_seconds
        )

    # --- failed logins ---------------------------------------------------------------------------------------
    async def begin_login(self, login_key: str, client_ip: str, t: float) -> LoginAttempt:
        """Take a failure slot of the account and of the IP *before* the password is checked, so parallel
        guesses cannot outrun the lock: at most ``max_failures`` are evaluated per lock generation. :class:`Limited`
        when either is locked (or all its slots are held by attempts deciding right now)."""
        ip, account = await asyncio.gather(
            self._slot(f"ip:{client_ip}", self.ip_policy, t),
            self._slot(f"acct:{login_key}", self.account_policy, t),
            return_exceptions=True,
        )
        if isinstance(ip, FailureSlot) and isinstance(account, FailureSlot):
            return LoginAttempt(account, ip)
        # locked by one of the two: the other's slot goes back (this attempt is not evaluated)
        await asyncio.gather(*[self._release(x) for x in (ip, account) if isinstance(x, FailureSlot)])
        raise ip if isinstance(ip, BaseException) else account  # type: ignore[misc]

    async def login_failed(self, attempt: LoginAttempt, t: float) -> None:
        """The failures stay in their slots; a subject whose slots are full is locked (once per generation)."""
        await asyncio.gather(self._failed(attempt.account, t), self._failed(attempt.ip, t))

    async def login_succeeded(self, attempt: LoginAttempt) -> None:
        """A success is no failure: its slots go back, and the account's earlier failures are forgotten."""
        account = attempt.account
        await asyncio.gather(
            self.store.clear_counter(COLLECTION, account.counter) if account.earlier else self._release(account),
            self._release(attempt.ip),
        )

    async def _slot(self, subject: str, policy: ThrottlePolicy, t: float) -> FailureSlot:
        last, slots = await self.store.throttle_of(subject)
        if last is not None and last[1] > t:
            raise locked(last[1] - t)
        generation = last[0] + 1 if last is not None else 0
        counter = policy.counter(subject, generation, t)
        taken = slots.get(counter, 0)
        n = await self.store.claim_slot(
            COLLECTION, counter, policy.max_failures, expires_at=_at(policy.window_end(t)), taken=taken, subject=subject
        )
        if n is None:
            raise locked(policy.lock_for(generation))
        return FailureSlot(subject, policy, generation, counter, n, taken)

    async def _failed(self, slot: FailureSlot, t: float) -> None:
        cap = slot.policy.max_failures
        if slot.n >= cap or await self.store.count_slots(COLLECTION, slot.counter) >= cap:
            until = t + slot.policy.lock_for(slot.generation)
            await self.store.lock(slot.subject, slot.generation, until, keep_until=_at(until) + LOCK_MEMORY)

    async def _release(self, slot: FailureSlot) -> None:
        await self.store.release_slot(COLLECTION, slot.counter, slot.n)

    # --- rate limits -----------------------------------------------------------------------------------------
    async def registration(self, client_ip: str | None, login_keys: list[str], t: float) -> None:
        """Per address (None: an operator's tool, not a request) and per phone/e-mail; a 409 on a known phone
        counts too (enumeration)."""
        if client_ip is not None:
            await self._take(self.register_per_ip, client_ip, t)
        for key in login_keys:
            await self._take(self.register_per_identifier, key, t)

    async def reset_request(self, client_ip: str | None, login_key: str, t: float) -> None:
        """Per address and per identifier, whether or not it has an account (a 429 reveals nothing)."""
        if client_ip is not None:
            await self._take(self.reset_per_ip, client_ip, t)
        await self._take(self.reset_per_identifier, login_key, t)

    async def _take(self, limit: RateLimit, subject: str, t: float) -> None:
        counter = limit.counter(subject, t)
        if await self.store.claim_slot(COLLECTION, counter, limit.max, expires_at=_at(limit.window_end(t))) is None:
            raise Limited("Try again later.", code="rate_limited", retry_after=limit.retry_after(t))


def locked(seconds: float) -> Limited:
    return Limited("Too many failed logins. Try again later.", code="locked", retry_after=int(seconds) + 1)
