"""Identity's service layer: plain handlers, one module per area, over the domain rules (``identity.domain``) and the
store (``identity.store``). The routers in ``identity.api`` are HTTP only over these. Refusals are domain errors
(``common.errors``), mapped to problems at the edge.

  accounts.py   registration, profiles, deactivation, password changes
  sessions.py   login, tokens, refresh, logout
  resets.py     password reset by one-time code
  orgs.py       the org tree (seeded at start), new nodes, nationally unique school codes
  roles.py      role grants and revocations, invitations a scoped admin's grant waits in
  teachers.py   real-name verification of teachers through the national registry
  guardians.py  parent–student links and their approval
  keys.py       the signing key ring: load, rotation, JWKS
  sso.py        the OpenID Connect provider: consent, authorization codes, tokens, userinfo, logout
  clients.py    the OIDC relying parties
  subscribers.py  subscriber systems: registration, replays, the HTTP feed (the router: identity.feeds)

Events are never published here: each is handed to the store with the state change that raises it, written in
the same single-document write, and published by the outbox relay (see ``identity.store``). A request whose
state is stored answers success whether or not Kafka is reachable."""

from __future__ import annotations

from datetime import timedelta

# names from the domain's modules, not the modules: importing this package's submodules (orgs.py, ...) binds
# their names here
from identity.domain.crypto import Passwords, PiiVault
from identity.domain.orgs import OrgTree
from identity.domain.tokens import KeyRing, TokenPolicy
from identity.handlers.accounts import Accounts
from identity.handlers.clients import Clients
from identity.handlers.guardians import Guardians
from identity.handlers.keys import Keys
from identity.handlers.orgs import Orgs
from identity.handlers.resets import Resets
from identity.handlers.roles import Roles
from identity.handlers.sessions import Sessions
from identity.handlers.sso import Sso
from identity.handlers.subscribers import Subscribers
from identity.handlers.teachers import Teachers
from identity.limits import Limits
from identity.registry import TeacherRegistry
from identity.settings import IdentitySettings
from identity.store import IdentityStore


class Identity:
    """The parts the handlers share (settings, store, registry adapter, PII vault, password hasher, token policy,
    limits, the key ring and the org tree held in memory) and one handler per area."""

    def __init__(self, settings: IdentitySettings, store: IdentityStore, registry: TeacherRegistry) -> None:
        self.s = settings
        self.store = store
        self.registry = registry
        self.vault = PiiVault(settings.pii_keys, settings.pii_active_key, settings.lookup_key)
        self.passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.policy = TokenPolicy(
            issuer=settings.issuer,
            audience=settings.audience,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
        self.limits = Limits(settings, store.counters)
        self.ring = KeyRing()  # replaced by Keys.load
        self.tree = OrgTree()  # replaced by Orgs.load
        self.keys = Keys(self)
        self.verifier = self.keys.verifier()
        self.accounts = Accounts(self)
        self.sessions = Sessions(self)
        self.resets = Resets(self)
        self.orgs = Orgs(self)
        self.roles = Roles(self)
        self.teachers = Teachers(self)
        self.guardians = Guardians(self)
        self.clients = Clients(self)
        self.sso = Sso(self)
        self.subscribers = Subscribers(self)

    async def load(self) -> None:
        """Start-up (each replica, at each start): the org tree, then the signing keys."""
        await self.orgs.load()
        await self.keys.load()


__all__ = ["Identity"]
