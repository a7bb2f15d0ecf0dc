"""The OpenID Connect relying parties (registered, deactivated by a ministry admin; audited)."""

from __future__ import annotations

import secrets
import uuid

from common.auth import MINISTRY_ADMIN, Principal
from common.errors import Invalid, NotFound
from identity.domain import crypto, oidc
from identity.handlers.base import Handler


class Clients(Handler):
    async def register(
        self, who: Principal, name: str, redirect_uris: list[str], post_logout_redirect_uris: list[str], public: bool
    ) -> tuple[oidc.Client, str | None]:
        """The client and its secret (shown once; None for a public client)."""
        who.require(MINISTRY_ADMIN, org=None)
        bad = [u for u in redirect_uris + post_logout_redirect_uris if not oidc.valid_redirect_uri(u)]
        if bad or not redirect_uris:
            raise Invalid("https (or http on localhost), no fragment", code="redirect_uri", field="body.redirect_uris")
        secret = None if public else secrets.token_urlsafe(32)
        client = oidc.Client(
            f"c_{uuid.uuid4().hex[:16]}",
            crypto.token_digest(secret) if secret else None,
            name,
            redirect_uris,
            post_logout_redirect_uris,
        )
        await self.store.oidc.save_client(client)
        await self.store.audit.record(who.subject, "oidc.client.register", client.client_id)
        return client, secret

    async def set_active(self, who: Principal, client_id: str, active: bool) -> None:
        who.require(MINISTRY_ADMIN, org=None)
        if not await self.store.oidc.set_client_active(client_id, active):
            raise NotFound("Unknown client", code="invalid_client")
        await self.store.audit.record(
            who.subject, "oidc.client.activate" if active else "oidc.client.deactivate", client_id
        )

    async def active(self, client_id: str | None) -> oidc.Client | None:
        client = await self.store.oidc.client(client_id) if client_id else None
        return client if client is not None and client.active else None
