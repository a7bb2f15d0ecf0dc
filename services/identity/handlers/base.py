"""What every handler of identity's service layer starts from: the shared parts of :class:`~identity.handlers.Identity`
(the store, the PII vault, the settings) and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from identity.domain import crypto
from identity.settings import IdentitySettings
from identity.store import IdentityStore

if TYPE_CHECKING:
    from identity.handlers import Identity


def now() -> datetime:
    return datetime.now(UTC)


class Handler:
    """A handler of one area: plain methods over the domain and the store, no HTTP. It reaches the other areas
    through ``identity`` (the service layer it belongs to), read at call time: what start-up or a test replaces
    there (the key ring, the org tree, the registry adapter) is what the handler uses."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    @property
    def s(self) -> IdentitySettings:
        return self.identity.s

    @property
    def store(self) -> IdentityStore:
        return self.identity.store

    @property
    def vault(self) -> crypto.PiiVault:
        return self.identity.vault
