"""The signing key ring: loaded from the store (private keys sealed by the PII vault), rotated on schedule or by a
ministry admin, published as the JWKS, and the verifier identity checks its own access tokens with."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.auth import JwksCache, Principal, TokenVerifier
from identity.domain import crypto, tokens
from identity.handlers.base import Handler, now


class _LocalKeys(JwksCache):
    """Identity verifies its own tokens from its key ring, no HTTP."""

    def __init__(self, keys: Keys) -> None:
        super().__init__("local", min_refresh_seconds=0, max_age_seconds=5)
        self._ring_of = keys

    async def refresh(self) -> bool:
        self.load(self._ring_of.jwks())
        return True


class Keys(Handler):
    def verifier(self) -> TokenVerifier:
        return TokenVerifier(_LocalKeys(self), issuer=self.s.issuer, audience=self.s.audience)

    def jwks(self) -> dict[str, Any]:
        return self.identity.ring.jwks(now())

    async def load(self) -> None:
        """The stored ring, with an active key created (and stored) when there is none."""
        await self.reload()
        new = self.identity.ring.ensure(now())
        if new:
            await self._save(new)

    async def reload(self) -> None:
        ring = tokens.KeyRing()
        for d in await self.store.sessions.keys():
            jwk = crypto.json.loads(self.vault.decrypt(d["private"], field="signing_key", owner=d["kid"]))
            ring.keys.append(tokens.SigningKey(d["kid"], jwk, d["status"], d["created_at"], d["retire_after"]))
        # two replicas starting at once may both create an active key: the newest wins, the other retires
        actives = sorted((k for k in ring.keys if k.status == "active"), key=lambda k: k.created_at)
        for k in actives[:-1]:
            k.status, k.retire_after = "retired", now() + self.identity.policy.access_ttl
        self.identity.ring = ring

    async def _save(self, keys: list[tokens.SigningKey]) -> None:
        sealed = [
            (k, self.vault.encrypt(crypto.json.dumps(k.private_jwk), field="signing_key", owner=k.kid)) for k in keys
        ]
        await self.store.sessions.save_keys(sealed)

    async def rotate(self, who: Principal | None = None) -> str:
        """A new active key now (``who``: the ministry admin who asked, audited); returns its ``kid``."""
        ring = self.identity.ring
        await self._save(ring.rotate(now(), self.identity.policy.access_ttl + timedelta(minutes=1)))
        kid = ring.active().kid
        if who is not None:
            await self.store.audit.record(who.subject, "keys.rotate", kid)
        return kid

    async def maybe_rotate(self) -> None:
        """Every replica, every minute: reload the ring (another replica may have rotated) and rotate when due."""
        await self.reload()
        self.identity.ring.ensure(now())
        if now() - self.identity.ring.active().created_at > timedelta(hours=self.s.key_rotation_hours):
            await self.rotate()
