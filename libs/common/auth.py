"""Offline verification of the platform's access tokens (统一身份认证), shared by every service.

Identity signs short-lived access JWTs with Ed25519 (JWS ``alg`` ``Ed25519``, RFC 9864; the older ``EdDSA``
name is accepted too) and publishes its public keys at ``/.well-known/jwks.json``. A service verifies every
request locally against a cached copy of that key set: no network call per request. The cache fetches again
only when a token names a ``kid`` it has not seen (at most once per ``jwks_min_refresh_seconds``, so a flood of
forged ``kid``s cannot turn into a flood of fetches) or when the copy is older than ``jwks_max_age_seconds``.
Keys that disappear from the published set are kept for ``jwks_retain_seconds`` (at least the longest access
token lifetime), so tokens signed just before a rotation keep verifying until they expire.

Roles travel in the token as ``"<role>"`` (ministry-wide) or ``"<role>@<org path>"``, where the org path is the
node of the province → city → county → school hierarchy the role is scoped to, e.g.
``school_admin@cn/43/4301/430102/school-123``. A scope covers its whole subtree.

Services use the FastAPI dependencies only::

    @router.get("/schools/{org:path}/classes")
    async def classes(org: str, who: Principal = Depends(require_role("school_admin", org=path_param("org")))): …
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import Request
from joserfc import errors as jose_errors
from joserfc import jws, jwt
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.problems import Problem

log = logging.getLogger("common.auth")

ACCEPTED_ALGORITHMS = ("Ed25519", "EdDSA")
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068: an ID token or other JWT must not pass as an access token

MINISTRY_ADMIN = "ministry_admin"
ORG_ADMIN_ROLES = ("school_admin", "county_admin", "city_admin", "province_admin", MINISTRY_ADMIN)
"""Every admin role; ``require_role(*ORG_ADMIN_ROLES, org=node)`` admits any admin whose scope covers node."""


class AuthSettings(BaseSettings):
    """How a service verifies access tokens; the same variables configure every service."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    jwks_url: str = Field(
        "http://127.0.0.1:8102/.well-known/jwks.json",
        description="Identity's JWKS endpoint (AUTH_JWKS_URL).",
    )
    issuer: str = Field("https://id.smartedu.cn", description="Expected `iss` of access tokens (AUTH_ISSUER).")
    audience: str = Field("smartedu-api", description="Expected `aud` of access tokens (AUTH_AUDIENCE).")
    leeway_seconds: int = Field(30, ge=0, description="Clock skew tolerated on `exp`/`nbf`/`iat`.")
    jwks_min_refresh_seconds: float = Field(
        30.0, ge=0, description="At most one JWKS fetch per this many seconds when an unknown `kid` shows up."
    )
    jwks_max_age_seconds: float = Field(600.0, gt=0, description="Refetch the JWKS when the copy is older.")
    jwks_retain_seconds: float = Field(
        3600.0, ge=0, description="Keep keys that left the published set this long (>= access token lifetime)."
    )
    jwks_timeout_seconds: float = Field(3.0, gt=0, description="HTTP timeout of a JWKS fetch.")
    verified_cache_size: int = Field(
        50_000,
        ge=0,
        le=1_000_000,
        description="Access tokens kept verified until they expire (≈ 1 KB each; 0 verifies every request).",
    )


# --------------------------------------------------------------------------------------------- principal


def org_covers(scope: str | None, target: str | None) -> bool:
    """Whether a role scoped to ``scope`` applies at ``target``. ``None`` as scope is ministry-wide and
    covers everything; a node covers itself and its whole subtree (path prefix on ``/`` boundaries)."""
    if scope is None:
        return True
    if target is None:
        return False  # a scoped role never reaches a ministry-wide action
    scope = scope.rstrip("/")
    return target == scope or target.startswith(scope + "/")


class Role(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    org: str | None = None
    """Org path the role is scoped to (``cn/43/4301/430102/school-123``), or None for ministry-wide."""

    @classmethod
    def parse(cls, claim: str) -> Role:
        name, sep, org = claim.partition("@")
        return cls(name=name, org=org if sep and org else None)

    def claim(self) -> str:
        return self.name if self.org is None else f"{self.name}@{self.org}"


class Principal(BaseModel):
    """Who is calling, as the access token says."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: tuple[Role, ...] = ()
    token_id: str
    expires_at: datetime
    kind: str | None = None
    """Account kind chosen at registration (student, teacher, parent, staff); not a permission."""
    client_id: str | None = None
    """OIDC client the token was issued to (``azp``/``client_id``); None for the platform's own apps."""
    scope: str | None = None
    """OAuth scopes granted to that client (space-separated); None for the platform's own apps."""
    session: str | None = None
    """The login session the token belongs to (``sid``: identity's refresh token family), when it names one."""
    issued_at: datetime | None = None
    """When the token was issued (``iat``), when it says."""

    def has_role(self, *names: str, org: str | None = None, any_scope: bool = False) -> bool:
        """Whether one of ``names`` is held with a scope covering ``org`` (``any_scope``: held anywhere)."""
        wanted = set(names)
        return any(r.name in wanted and (any_scope or org_covers(r.org, org)) for r in self.roles)

    def scopes_of(self, *names: str) -> list[str | None]:
        """The org scopes in which the principal holds one of ``names`` (None = ministry-wide)."""
        wanted = set(names)
        return [r.org for r in self.roles if r.name in wanted]

    def require(self, *names: str, org: str | None = None, any_scope: bool = False) -> Principal:
        """Raise 403 unless :meth:`has_role`; returns self so it chains."""
        if self.has_role(*names, org=org, any_scope=any_scope):
            return self
        if any(r.name in names for r in self.roles):
            raise Problem(
                403,
                "Forbidden",
                "The role is held, but not for this organisation.",
                code="out_of_scope",
                reason="out_of_scope",
            )
        raise Problem(
            403,
            "Forbidden",
            f"Requires one of the roles: {', '.join(names)}.",
            code="missing_role",
            reason="missing_role",
        )

    @property
    def is_ministry_admin(self) -> bool:
        return self.has_role(MINISTRY_ADMIN, org=None)


# --------------------------------------------------------------------------------------------- errors


class TokenError(Exception):
    """Why a token was refused; ``reason`` is one of missing, expired, tampered, unknown_key, invalid."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def problem(self) -> Problem:
        return Problem(
            401,
            "Unauthorized",
            self.detail,
            code=f"token_{self.reason}",
            reason=self.reason,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{self.reason}"'
                if self.reason != "missing"
                else "Bearer"
            },
        )


# --------------------------------------------------------------------------------------------- keys


class JwksCache:
    """Identity's public keys, fetched with httpx and cached (see the module docstring for the rules)."""

    def __init__(
        self,
        url: str,
        *,
        min_refresh_seconds: float = 30.0,
        max_age_seconds: float = 600.0,
        retain_seconds: float = 3600.0,
        timeout_seconds: float = 3.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.retain_seconds = retain_seconds
        self._timeout = timeout_seconds
        self._client = client
        self._clock = clock
        self._keys: dict[str, OKPKey] = {}
        self._retired: dict[str, float] = {}  # kid -> when it left the published set
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def load(self, jwks: dict[str, Any]) -> None:
        """Merge a fetched JWKS: new keys in, vanished keys retired (kept for ``retain_seconds``)."""
        now = self._clock()
        published: dict[str, OKPKey] = {}
        for data in jwks.get("keys", []):
            if data.get("kty") != "OKP" or data.get("crv") != "Ed25519" or "kid" not in data or "d" in data:
                continue  # only public Ed25519 keys with a kid are ever trusted
            if data.get("use", "sig") != "sig":
                continue
            try:
                published[data["kid"]] = OKPKey.import_key(data)
            except (jose_errors.JoseError, ValueError) as exc:
                log.warning("ignoring malformed JWKS entry %s: %s", data.get("kid"), exc)
        for kid in self._keys.keys() - published.keys():
            self._retired.setdefault(kid, now)
        for kid in published:
            self._retired.pop(kid, None)
        merged = {**self._keys, **published}
        for kid, since in list(self._retired.items()):
            if now - since > self.retain_seconds:
                merged.pop(kid, None)
                del self._retired[kid]
        self._keys = merged
        self._fetched_at = now

    async def refresh(self) -> bool:
        """Fetch the JWKS now. Returns False (and keeps the current keys) when the fetch fails."""
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            if self._client is not None:
                response = await self._client.get(self.url, timeout=self._timeout)
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.get(self.url)
            response.raise_for_status()
            self.load(response.json())
            return True
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return False

    def _may_refresh(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.min_refresh_seconds

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self.max_age_seconds

    async def get(self, kid: str) -> OKPKey | None:
        """The key for ``kid``; fetches only when it is unknown or the copy is stale, and rate-limited."""
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:  # concurrent requests with the same new kid share one fetch
            key = self._keys.get(kid)
            if (key is None or self._stale()) and self._may_refresh():
                await self.refresh()
                key = self._keys.get(kid)
        return key


# --------------------------------------------------------------------------------------------- verifier


class TokenVerifier:
    """Checks signature, ``typ``, ``iss``, ``aud``, ``exp``/``nbf`` and builds the :class:`Principal`."""

    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
        cache_size: int = 50_000,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._clock = clock
        self._verified = VerifiedTokens(cache_size)

    @classmethod
    def from_settings(
        cls, settings: AuthSettings | None = None, client: httpx.AsyncClient | None = None
    ) -> TokenVerifier:
        s = settings or AuthSettings()
        cache = JwksCache(
            s.jwks_url,
            min_refresh_seconds=s.jwks_min_refresh_seconds,
            max_age_seconds=s.jwks_max_age_seconds,
            retain_seconds=s.jwks_retain_seconds,
            timeout_seconds=s.jwks_timeout_seconds,
            client=client,
        )
        return cls(
            cache,
            issuer=s.issuer,
            audience=s.audience,
            leeway_seconds=s.leeway_seconds,
            cache_size=s.verified_cache_size,
        )

    @staticmethod
    def header(token: str) -> dict[str, Any]:
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (jose_errors.JoseError, ValueError, UnicodeError) as exc:
            raise TokenError("tampered", "The token is malformed.") from exc
        if header.get("alg") not in ACCEPTED_ALGORITHMS:
            raise TokenError("tampered", "The token's algorithm is not accepted.")
        if not isinstance(header.get("kid"), str):
            raise TokenError("tampered", "The token names no key.")
        return header

    def verify_with_key(self, token: str, key: OKPKey) -> Principal:
        """The synchronous part: signature and claims against a known key."""
        try:
            decoded = jwt.decode(token, key, algorithms=list(ACCEPTED_ALGORITHMS))
        except (
            jose_errors.BadSignatureError,
            jose_errors.DecodeError,
            jose_errors.InvalidPayloadError,
            ValueError,
        ) as exc:
            raise TokenError("tampered", "The token's signature does not verify.") from exc
        except jose_errors.JoseError as exc:
            raise TokenError("tampered", "The token is malformed.") from exc
        if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
            raise TokenError("invalid", "The token is not an access token.")
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError as exc:
            raise TokenError("expired", "The token has expired.") from exc
        except jose_errors.JoseError as exc:
            raise TokenError("invalid", f"The token's claims are not accepted ({exc.error}).") from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("invalid", "The token's roles are malformed.")
        return Principal(
            subject=str(claims["sub"]),
            roles=tuple(Role.parse(r) for r in roles),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            kind=claims.get("kind"),
            client_id=claims.get("client_id"),
            scope=claims.get("scope"),
            session=sid if isinstance(sid := claims.get("sid"), str) and sid else None,
            issued_at=datetime.fromtimestamp(int(iat), UTC)
            if isinstance(iat := claims.get("iat"), int | float)
            else None,
        )

    async def verify(self, token: str) -> Principal:
        """The caller a token names. A token seen before is answered from :class:`VerifiedTokens` while it is
        unexpired and its key is still trusted; anything else goes through every check again."""
        hit = self._verified.get(token)
        if hit is not None:
            principal, kid, valid_until = hit
            if self._clock() <= valid_until and await self.keys.get(kid) is not None:
                return principal
            self._verified.forget(token)  # expired, or its key retired: the full path raises the precise error
        header = self.header(token)
        key = await self.keys.get(header["kid"])
        if key is None:
            raise TokenError("unknown_key", "The token was signed by a key this service does not know.")
        principal = self.verify_with_key(token, key)
        self._verified.put(token, principal, header["kid"], principal.expires_at.timestamp() + self.leeway)
        return principal


class VerifiedTokens:
    """Tokens that passed every check, kept until they expire, at most ``max_entries`` (oldest dropped first).

    Why: an Ed25519 verification plus claim validation costs ≈ 0.6 ms of Python per request, and a client sends
    the same access token with every request for its 10-minute life. A hit needs the exact token string that
    was verified, so it can never admit a token that would fail: signature, ``typ``, ``iss``, ``aud`` and the
    claims are fixed by the string; what can change with time is re-checked on every hit (``exp`` with the
    leeway, and that the signing key is still trusted: a key retired from the JWKS invalidates its tokens).
    Access tokens are not revocable before ``exp`` with or without this cache (verification is offline)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Principal, str, float]] = {}

    def get(self, token: str) -> tuple[Principal, str, float] | None:
        return self._entries.get(token)

    def put(self, token: str, principal: Principal, kid: str, valid_until: float) -> None:
        if self.max_entries <= 0:
            return
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (principal, kid, valid_until)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)

    def __len__(self) -> int:
        return len(self._entries)


# --------------------------------------------------------------------------------------------- FastAPI


def install_verifier(app: Any, verifier: TokenVerifier) -> None:
    """Pin the verifier an app's dependencies use (tests, or a service that builds its own)."""
    app.state.token_verifier = verifier


def get_verifier(request: Request) -> TokenVerifier:
    state = request.app.state
    verifier = getattr(state, "token_verifier", None)
    if verifier is None:
        verifier = TokenVerifier.from_settings()
        state.token_verifier = verifier
    return verifier


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("tampered", "The Authorization header is not a Bearer token.").problem()
    return token.strip()


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when anonymous. A token that is present but bad is still a 401."""
    token = _bearer(request)
    if token is None:
        return None
    try:
        principal = await get_verifier(request).verify(token)
    except TokenError as exc:
        raise exc.problem() from None
    request.state.principal = principal
    return principal


async def require_principal(request: Request) -> Principal:
    """The caller; 401 with reason ``missing`` when there is no token."""
    principal = await optional_principal(request)
    if principal is None:
        raise TokenError("missing", "A Bearer access token is required.").problem()
    return principal


OrgSpec = str | Callable[[Request], "str | Awaitable[str | None] | None"] | None


def path_param(name: str) -> Callable[[Request], str | None]:
    """``org=path_param("org")``: the org the action is about comes from the URL."""
    return lambda request: request.path_params.get(name)


def require_role(
    *roles: str, org: OrgSpec = None, any_scope: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting callers who hold one of ``roles`` in a scope covering ``org``.

    ``org`` is a fixed path, a callable of the request (e.g. :func:`path_param`), or None for a ministry-wide
    action (only unscoped roles pass). ``any_scope=True`` admits the role held anywhere; the handler then
    narrows what it shows to :meth:`Principal.scopes_of`.
    """
    if not roles:
        raise ValueError("require_role needs at least one role")

    async def dependency(request: Request) -> Principal:
        principal = await require_principal(request)
        target: Any = org(request) if callable(org) else org
        if asyncio.iscoroutine(target):
            target = await target
        return principal.require(*roles, org=target, any_scope=any_scope)

    dependency.__name__ = f"require_role_{'_'.join(roles)}"
    return dependency


def role_claims(roles: Iterable[Role]) -> list[str]:
    """The ``roles`` claim identity puts in a token."""
    return sorted({r.claim() for r in roles})
