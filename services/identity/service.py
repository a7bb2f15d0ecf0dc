"""Identity's use cases: domain rules + store + events. The routers in ``api.py`` are thin over this.

Events are never published here: each is handed to the store with the state change that raises it, written in
the same single-document write, and published by the outbox relay (see ``identity.store``). A request whose
state is stored answers success whether or not Kafka is reachable."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.auth import MINISTRY_ADMIN, JwksCache, Principal, Role, TokenVerifier
from common.contracts.identity import (
    GuardianLinked,
    NotificationRequested,
    RoleGranted,
    RoleRevoked,
    TeacherVerified,
    UserDeactivated,
    UserRegistered,
    UserUpdated,
)
from common.errors import invalid_input
from common.problems import Problem
from identity.domain import authz, crypto, oidc, orgs, teachers, tokens
from identity.domain.accounts import (
    RESET_MAX_ATTEMPTS,
    RESET_TTL,
    Account,
    ResetCode,
    login_id,
    new_reset_code,
    new_user_id,
)
from identity.domain.guardians import GuardianLink, approver_role, check_request
from identity.limits import Limits
from identity.registry import RegistryUnavailable, TeacherRegistry
from identity.settings import IdentitySettings
from identity.store import Duplicate, IdentityStore

log = logging.getLogger("identity")

INVALID_LOGIN = Problem(401, "Login failed", "The identifier or the password is wrong.", code="invalid_credentials")


def now() -> datetime:
    return datetime.now(UTC)


# A registration claims its identifiers, then saves the account, within a second; older claims without an
# account are left by a crash.
STALE_LOGIN_CLAIM_SECONDS = 120
INVITATION_TTL = timedelta(days=14)


class _LocalKeys(JwksCache):
    """Identity verifies its own tokens from its key ring, no HTTP."""

    def __init__(self, service: IdentityService) -> None:
        super().__init__("local", min_refresh_seconds=0, max_age_seconds=5)
        self._service = service

    async def refresh(self) -> bool:
        self.load(self._service.ring.jwks(now()))
        return True


class IdentityService:
    def __init__(self, settings: IdentitySettings, store: IdentityStore, registry: TeacherRegistry):
        self.s = settings
        self.store = store
        self.registry = registry
        self.vault = crypto.PiiVault(settings.pii_keys, settings.pii_active_key, settings.lookup_key)
        self.passwords = crypto.Passwords(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.policy = tokens.TokenPolicy(
            issuer=settings.issuer,
            audience=settings.audience,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
        self.limits = Limits(settings, store)
        self.ring = tokens.KeyRing()
        self.tree = orgs.OrgTree()
        self.verifier = TokenVerifier(_LocalKeys(self), issuer=settings.issuer, audience=settings.audience)

    # --- start-up -----------------------------------------------------------------------------------------
    async def load(self) -> None:
        # The divisions are seeded in every environment (production would have no tree to build on otherwise), the
        # demo subtree only when asked (IDENTITY_SEED_DEMO, refused in production); what exists is not rewritten.
        stored = await self.store.orgs()
        held = {n.path for n in stored}
        missing = [n for n in orgs.seed_nodes(demo=self.s.seed_demo) if n.path not in held]
        await self.store.save_orgs(missing)
        self.tree = orgs.OrgTree(sorted(stored + missing, key=lambda n: n.path.count("/")))
        await self._claim_school_codes()
        await self.load_keys()
        new = self.ring.ensure(now())
        if new:
            await self._save_keys(new)

    async def _claim_school_codes(self) -> None:
        """Every school's code is claimed nationally (seeded schools and schools created before codes were
        claimed included), and the tree maps each code to the school holding the claim: a second school with
        the same code, whatever its path, never receives the teachers the registry lists under that code. The
        claims are read once: a start inserts only the codes nobody claimed yet."""
        held = await self.store.school_codes()
        for node in list(self.tree.nodes.values()):
            if node.level is orgs.Level.SCHOOL:
                holder = held.get(node.code) or await self.store.claim_school_code(node.code, node.path)
                if holder != node.path:
                    log.warning("school code %s is held by another path; %s is ignored", node.code, node.path)
                self.tree.school_by_code[node.code] = holder

    async def load_keys(self) -> None:
        ring = tokens.KeyRing()
        for d in await self.store.keys():
            jwk = crypto.json.loads(self.vault.decrypt(d["private"], field="signing_key", owner=d["kid"]))
            ring.keys.append(tokens.SigningKey(d["kid"], jwk, d["status"], d["created_at"], d["retire_after"]))
        # two replicas starting at once may both create an active key: the newest wins, the other retires
        actives = sorted((k for k in ring.keys if k.status == "active"), key=lambda k: k.created_at)
        for k in actives[:-1]:
            k.status, k.retire_after = "retired", now() + self.policy.access_ttl
        self.ring = ring

    async def _save_keys(self, keys: list[tokens.SigningKey]) -> None:
        sealed = [
            (k, self.vault.encrypt(crypto.json.dumps(k.private_jwk), field="signing_key", owner=k.kid)) for k in keys
        ]
        await self.store.save_keys(sealed)

    async def rotate_keys(self) -> str:
        changed = self.ring.rotate(now(), self.policy.access_ttl + timedelta(minutes=1))
        await self._save_keys(changed)
        return self.ring.active().kid

    async def maybe_rotate(self) -> None:
        await self.load_keys()
        self.ring.ensure(now())
        if now() - self.ring.active().created_at > timedelta(hours=self.s.key_rotation_hours):
            await self.rotate_keys()

    # --- accounts -------------------------------------------------------------------------------------------
    def _identifier(self, raw: str) -> tuple[str, str]:
        """(method, normalised) of a phone number or an e-mail address."""
        with invalid_input("body.identifier", code="identifier"):
            if "@" in raw:
                return "email", crypto.normalise_email(raw)
            return "phone", crypto.normalise_phone(raw)

    def _login_key(self, method: str, value: str) -> str:
        return login_id(method, self.vault.lookup_hash(method, value))

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
        idents: dict[str, str] = {}
        errors = []
        for method, raw, norm in (("phone", phone, crypto.normalise_phone), ("email", email, crypto.normalise_email)):
            if raw:
                try:
                    idents[method] = norm(raw)
                except ValueError as exc:
                    errors.append({"field": f"body.{method}", "message": str(exc), "code": method})
        if not idents and not errors:
            errors.append(
                {"field": "body.phone", "message": "a phone number or an e-mail is required", "code": "required"}
            )
        for p in crypto.password_problems(password, personal=tuple(idents.values())):
            errors.append({"field": "body.password", "message": p, "code": "password_policy"})
        if errors:
            raise Problem(
                422,
                "Invalid registration",
                f"{len(errors)} field(s) are invalid",
                errors=errors,
                code="validation-failed",
            )
        keys = {m: self._login_key(m, v) for m, v in idents.items()}
        await self.limits.registration(client_ip, list(keys.values()), now().timestamp())  # before the Argon2 hash
        user_id = new_user_id()
        # Argon2 runs in a worker thread: cffi releases the GIL, so hashes run in parallel and the event
        # loop keeps serving other requests meanwhile
        password_hash = await asyncio.to_thread(self.passwords.hash, password)
        claimed = []
        try:
            for method, key in keys.items():
                try:
                    await self._claim_login(key, user_id)
                except Duplicate:
                    raise Problem(
                        409, "Already registered", f"This {method} is already registered.", code=f"duplicate_{method}"
                    ) from None
                claimed.append(key)
            account = Account(
                id=user_id,
                kind=kind,
                status="active",
                password_hash=password_hash,
                name_enc=self.vault.encrypt(crypto.nfc(real_name), field="name", owner=user_id),
                logins={m: k for m, k in keys.items()},
                phone_enc=self.vault.encrypt(idents["phone"], field="phone", owner=user_id)
                if "phone" in idents
                else None,
                email_enc=self.vault.encrypt(idents["email"], field="email", owner=user_id)
                if "email" in idents
                else None,
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
            await self.store.create_account(account, registered)
        except BaseException:
            for key in claimed:  # give the identifier back so the user can retry
                await self.store.release_login(key, user_id)
            raise
        return account

    async def _claim_login(self, key: str, user_id: str) -> None:
        """Claim a phone or e-mail for a new account. A claim whose account was never saved (the process died
        between the two inserts, so the usual release did not run) is taken over once it is stale."""
        try:
            await self.store.claim_login(key, user_id)
            return
        except Duplicate:
            claim = await self.store.login_claim(key)
            if (
                claim is None
                or claim["at"] > now() - timedelta(seconds=STALE_LOGIN_CLAIM_SECONDS)
                or await self.store.account(claim["user_id"]) is not None
            ):
                raise
        await self.store.release_login(key, claim["user_id"])
        await self.store.claim_login(key, user_id)  # Duplicate again: another registration won the race

    async def _account_for(self, identifier: str) -> tuple[str, Account | None]:
        method, value = self._identifier(identifier)
        key = self._login_key(method, value)
        owner = await self.store.login_owner(key)
        return key, (await self.store.account(owner) if owner else None)

    async def login(self, identifier: str, password: str, client_ip: str) -> dict[str, Any]:
        key, account = await self._account_for(identifier)
        t = now().timestamp()
        attempt = await self.limits.begin_login(key, client_ip, t)  # a 429 when locked
        ok = await asyncio.to_thread(self.passwords.verify, account.password_hash if account else None, password)
        if not ok or account is None or not account.active:
            await self.limits.login_failed(attempt, t)
            raise INVALID_LOGIN
        await self.limits.login_succeeded(attempt)
        if self.passwords.needs_rehash(account.password_hash):
            # only over the hash just verified: a password changed meanwhile is never undone by the rehash
            await self.store.update_account(
                account.id,
                fields={"password_hash": await asyncio.to_thread(self.passwords.hash, password)},
                where={"password_hash": account.password_hash},
            )
        return await self.issue(account, family=uuid.uuid4().hex, auth_time=now())

    async def issue(
        self,
        account: Account,
        *,
        family: str,
        auth_time: datetime,
        client_id: str | None = None,
        scope: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        t = now()
        # A relying party gets a token for its own audience with the claims of the scopes granted to it only:
        # the roles with the ``roles`` scope, the account kind with ``profile``.
        granted = set(scope.split()) if scope else set()
        access, _ = tokens.issue_access_token(
            self.ring,
            self.policy,
            subject=account.id,
            roles=account.roles if client_id is None or "roles" in granted else [],
            kind=account.kind if client_id is None or "profile" in granted else None,
            now=t,
            client_id=client_id,
            scope=scope,
            session=family,
        )
        refresh = tokens.new_secret()
        await self.store.save_refresh(
            tokens.RefreshToken(
                crypto.token_digest(refresh),
                family,
                account.id,
                client_id,
                scope,
                t,
                t + self.policy.refresh_ttl,
                auth_time,
            )
        )
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.policy.access_ttl.total_seconds()),
            "refresh_token": refresh,
        }
        if client_id and scope and "openid" in scope.split():
            out["id_token"] = tokens.issue_id_token(
                self.ring,
                self.policy,
                subject=account.id,
                client_id=client_id,
                nonce=nonce,
                now=t,
                auth_time=auth_time,
                extra={"sid": family},  # RP-initiated logout names the session to end with it
            )
        if scope:
            out["scope"] = scope
        return out

    async def refresh(self, refresh_token: str, client_id: str | None = None) -> dict[str, Any]:
        digest = crypto.token_digest(refresh_token)
        record = await self.store.refresh(digest)
        revoked = record is not None and await self.store.family_revoked(record.family)
        first_use = record is not None and not revoked and await self.store.mark_refresh_used(digest)
        outcome = tokens.judge_refresh(
            record, family_revoked=revoked, already_used=not first_use, now=now(), client_id=client_id
        )
        if outcome == tokens.RefreshOutcome.REUSED and record is not None:
            await self.store.revoke_family(record.family, "reuse")
            log.warning("refresh token reuse: family %s revoked", record.family)
        if outcome != tokens.RefreshOutcome.OK or record is None:
            raise Problem(401, "Refresh token refused", code=f"refresh_{outcome}", reason=outcome)
        account = await self.store.account(record.user_id)
        if (
            account is None
            or not account.active
            # a password change or reset ends every session that began before it
            or (account.password_changed_at is not None and record.auth_time < account.password_changed_at)
        ):
            raise Problem(401, "Refresh token refused", code="refresh_revoked", reason="revoked")
        return await self.issue(
            account, family=record.family, auth_time=record.auth_time, client_id=record.client_id, scope=record.scope
        )

    async def logout(self, refresh_token: str) -> None:
        record = await self.store.refresh(crypto.token_digest(refresh_token))
        if record is not None:
            await self.store.revoke_family(record.family, "logout")

    async def me(self, who: Principal) -> Account:
        account = await self.store.account(who.subject)
        if account is None or not account.active:
            raise Problem(404, "Account not found", code="account_not_found")
        return account

    async def view(self, who: Principal, user_id: str) -> dict[str, Any]:
        """Oneself, or an account an admin governs (see :mod:`identity.domain.authz`)."""
        account = await self.store.account(user_id)
        if account is None:
            raise Problem(404, "Account not found", code="account_not_found")
        if who.subject != user_id:
            authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=False)
        return self.profile(account)

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
            "real_name": self.vault.decrypt(account.name_enc, field="name", owner=account.id),
            "phone": masked(account.phone_enc, "phone"),
            "email": masked(account.email_enc, "email"),
            "roles": [r.claim() for r in account.roles],
            "teacher_status": account.teacher_status,
            "school": account.school,
        }

    async def change_password(self, who: Principal, current: str, new: str) -> None:
        account = await self.me(who)
        if not await asyncio.to_thread(self.passwords.verify, account.password_hash, current):
            raise Problem(403, "Current password is wrong", code="wrong_password")
        await self._set_password(account, new)

    @staticmethod
    def _check_password(new: str) -> None:
        problems = crypto.password_problems(new)
        if problems:
            raise Problem(
                422,
                "Password refused",
                errors=[{"field": "body.new_password", "message": p, "code": "password_policy"} for p in problems],
            )

    async def _set_password(self, account: Account, new: str) -> None:
        self._check_password(new)
        # two fields of the account, nothing else (a role granted meanwhile survives); the new
        # ``password_changed_at`` revokes every refresh token of a session that began before it
        await self.store.update_account(
            account.id,
            fields={"password_hash": await asyncio.to_thread(self.passwords.hash, new), "password_changed_at": now()},
            events=(UserUpdated(user_id=account.id, occurred_at=now(), changed=("password",)),),
        )

    async def request_reset(self, identifier: str, client_ip: str | None = None) -> None:
        """Always answers the same; only a real, active account gets a code. Limited per IP and per identifier
        (whether or not it has an account, so a 429 reveals nothing): bounds SMS flooding of a phone, and the
        guesses of codes (``RESET_MAX_ATTEMPTS`` per code) that a new code no longer resets."""
        method, value = self._identifier(identifier)
        key = self._login_key(method, value)
        await self.limits.reset_request(client_ip, key, now().timestamp())
        owner = await self.store.login_owner(key)
        account = await self.store.account(owner) if owner else None
        if account is None or not account.active:
            return
        code = new_reset_code()
        notification_id = uuid.uuid4().hex
        # sealed for the gateway: the stored outbox entry and the topic hold no phone, e-mail or code in clear
        sealed = crypto.seal_for_gateway(
            self.s.notify_key, self.s.notify_key_id, {"to": value, "code": code}, reference=notification_id
        )
        await self.store.save_reset(
            ResetCode(account.id, self.vault.lookup_hash("reset", f"{account.id}:{code}"), now() + RESET_TTL),
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

    async def confirm_reset(self, identifier: str, code: str, new_password: str) -> None:
        _, account = await self._account_for(identifier)
        pending = await self.store.reset(account.id) if account else None
        invalid = Problem(400, "Code invalid or expired", code="reset_code_invalid")
        if account is None or pending is None or not pending.usable(now()):
            raise invalid
        # each guess takes one of the code's slots first (an insert: parallel guesses cannot pass the cap);
        # with no slot left the code is dead, right or not
        attempt = await self.store.claim_slot(
            "resets", f"reset-attempt:{pending.code_id}", RESET_MAX_ATTEMPTS, expires_at=pending.expires_at
        )
        if attempt is None or self.vault.lookup_hash("reset", f"{account.id}:{code}") != pending.digest:
            raise invalid
        self._check_password(new_password)  # a refused password spends a guess, not the code
        if not await self.store.use_reset(pending):
            raise invalid
        await self._set_password(account, new_password)

    async def deactivate(self, who: Principal, user_id: str) -> None:
        account = await self.store.account(user_id)
        if account is None:
            raise Problem(404, "Account not found", code="account_not_found")
        if who.subject != user_id:
            # every place the account holds, not only its first: a school admin who made a ministry admin a
            # pupil of their school must still not reach it
            authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=False)
            await self.store.audit(who.subject, "deactivate", user_id)
        # a conditional transition: of parallel deactivations, one writes its event
        await self.store.update_account(
            user_id,
            fields={"status": "deactivated"},
            where={"status": "active"},
            events=(UserDeactivated(user_id=user_id, occurred_at=now(), by=who.subject),),
        )

    # --- roles ------------------------------------------------------------------------------------------
    async def change_role(self, who: Principal, user_id: str, role: str, org: str | None, *, grant: bool) -> str:
        """granted | revoked | unchanged | invited (a scoped admin's grant to an account that belongs nowhere
        waits for the account to accept it)."""
        node = self.tree.get(org) if org else None
        orgs.check_grant(who, role, org, node)
        if not authz.may_grant_rank(who.roles, role, org):
            raise Problem(403, "Forbidden", "The role is not below your own.", code="outranked", reason="outranked")
        account = await self.store.account(user_id)
        if account is None or not account.active:
            raise Problem(404, "Account not found", code="account_not_found")
        authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=grant)
        if (
            grant
            and role == "head_teacher"
            and not (
                account.teacher_status == "verified"
                and any(x.name == orgs.TEACHER and x.org == org for x in account.roles)
            )
        ):
            # 只有实名认证的教师才能担任行政班班主任
            raise Problem(409, "Only verified teachers of this school can head a class", code="teacher_not_verified")
        r = Role(name=role, org=org)
        if grant and authz.needs_consent(who.roles, account.roles, account.school):
            if await self.store.save_invitation(user_id, r, who.subject, now() + INVITATION_TTL):
                await self.store.audit(who.subject, "invite", user_id, role=role, org=org)
            return "invited"
        return await self._apply_role(account, r, grant=grant, by=who.subject)

    async def _apply_role(self, account: Account, r: Role, *, grant: bool, by: str) -> str:
        # one role added or removed in the stored document (not the copy read before), with its event: concurrent
        # grants, revocations and password changes all survive, and only the request that changed it audits and
        # writes the event (the role's presence is part of the condition: the pushed event alone changes a document)
        if grant:
            event = RoleGranted(user_id=account.id, occurred_at=now(), role=r.name, org=r.org, granted_by=by)
            changed = await self.store.update_account(
                account.id, add_role=r, where={"status": "active", "roles": {"$ne": r.claim()}}, events=(event,)
            )
            if changed and r.name in ("student", "head_teacher"):
                await self.store.update_account(account.id, fields={"school": r.org}, where={"school": None})
        else:
            revoked = RoleRevoked(user_id=account.id, occurred_at=now(), role=r.name, org=r.org, revoked_by=by)
            changed = await self.store.update_account(
                account.id, remove_role=r, where={"roles": r.claim()}, events=(revoked,)
            )
        if not changed:
            return "unchanged"
        await self.store.audit(by, "grant" if grant else "revoke", account.id, role=r.name, org=r.org)
        return "granted" if grant else "revoked"

    async def invitations(self, who: Principal) -> list[dict[str, Any]]:
        account = await self.me(who)
        t = now()
        return [
            {"role": d["role"], "expires_at": d["expires_at"].isoformat()}
            for d in await self.store.invitations(account.id)
            if d["expires_at"] > t
        ]

    async def answer_invitation(self, who: Principal, role: str, org: str | None, *, accept: bool) -> str:
        """The account's consent to (or refusal of) a role a scoped admin offered it. The offer holds only while
        its admin still may grant that role there."""
        account = await self.me(who)
        r = Role(name=role, org=org)
        invitation = await self.store.take_invitation(account.id, r)
        if invitation is None or invitation["expires_at"] <= now():
            raise Problem(404, "Invitation not found", code="invitation_not_found")
        if not accept:
            await self.store.audit(account.id, "invite.decline", account.id, role=role, org=org)
            return "declined"
        inviter = await self.store.account(invitation["invited_by"])
        if inviter is None or not inviter.active or not authz.may_grant_rank(inviter.roles, role, org):
            raise Problem(409, "Invitation no longer valid", code="invitation_stale")
        return await self._apply_role(account, r, grant=True, by=inviter.id)

    async def add_org(self, who: Principal, parent: str, code: str, name: str, level: orgs.Level) -> orgs.OrgNode:
        node = self.tree.get(parent)
        if node is None:
            raise Problem(404, "Organisation not found", code="org_not_found")
        who.require(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=parent)
        with invalid_input("body.code", code="org_code"):
            path = orgs.child_path(node, code, level)
        child = orgs.OrgNode(path, crypto.nfc(name))
        taken = Problem(409, "Organisation code taken", "This code is in use already.", code="duplicate_org_code")
        if level is orgs.Level.SCHOOL and await self.store.claim_school_code(code, path) != path:
            raise taken
        try:
            await self.store.insert_org(child)
        except Duplicate:
            raise taken from None  # the path exists (and holds its code's claim: keep it)
        except BaseException:
            if level is orgs.Level.SCHOOL:
                await self.store.release_school_code(code, path)
            raise
        self.tree.add(child)
        await self.store.audit(who.subject, "org.create", path)
        return child

    # --- teacher verification --------------------------------------------------------------------------------
    async def verify_teacher(self, who: Principal, national_id: str) -> str:
        account = await self.me(who)
        if account.kind != "teacher":
            raise Problem(403, "Only teacher accounts are verified", code="not_a_teacher")
        with invalid_input("body.national_id", code="national_id"):
            nid = crypto.normalise_national_id(national_id)
        name = self.vault.decrypt(account.name_enc, field="name", owner=account.id)
        # The registry answers first; the ID number is claimed only once it confirmed that it is this person's.
        # A rejection or an unreachable registry claims nothing, so nobody can squat a teacher's ID by trying it.
        try:
            answer = await self.registry.verify(nid, name)
        except RegistryUnavailable:
            raise Problem(
                503, "Teacher registry unavailable", "Try again later.", code="registry_unavailable"
            ) from None
        school = self.tree.school_by_code.get(answer.school_code) if answer.school_code else None
        outcome, reason = teachers.judge(answer, school)
        nid_key = f"nid:{self.vault.lookup_hash('nid', nid)}"
        claimed = False
        if outcome == "verified":
            owner = await self.store.claim_national_id(nid_key, account.id)
            claimed = owner == account.id
            if not claimed:
                # The same answer as any other rejection: the caller learns nothing about who holds the number.
                outcome, reason = "rejected", "already_claimed"
        try:
            fields: dict[str, Any] = {"teacher_status": outcome}
            if outcome == "verified":
                fields["national_id_enc"] = self.vault.encrypt(nid, field="national_id", owner=account.id)
                fields["school"] = school
            await self.store.update_account(
                account.id,
                fields=fields,
                add_role=Role(name=orgs.TEACHER, org=school) if outcome == "verified" else None,
                events=(
                    TeacherVerified(
                        user_id=account.id,
                        occurred_at=now(),
                        outcome=outcome,
                        school=school if outcome == "verified" else None,
                        reason=reason,
                    ),
                ),
            )
        except BaseException:
            if claimed:
                await self.store.release_national_id(nid_key, account.id)
            raise
        if reason == "already_claimed":
            await self.store.audit(account.id, "teacher.nid_conflict", account.id)
        return outcome

    # --- guardian links ---------------------------------------------------------------------------------------
    async def request_link(self, who: Principal, child_id: str) -> GuardianLink:
        parent = await self.me(who)
        child = await self.store.account(child_id)
        if child is None:
            raise Problem(404, "Student not found", code="account_not_found")
        check_request(parent, child)
        link = GuardianLink(parent.id, child.id, "pending", now())
        try:
            await self.store.save_link(link)
        except Duplicate:
            raise Problem(409, "Link already requested", code="duplicate_link") from None
        return link

    async def approve_link(self, who: Principal, parent_id: str, child_id: str) -> GuardianLink:
        link = await self.store.link(parent_id, child_id)
        child = await self.store.account(child_id)
        if link is None or child is None:
            raise Problem(404, "Link request not found", code="link_not_found")
        if link.status != "pending":
            raise Problem(409, "Link already decided", code="link_decided")
        role = approver_role(who, child, link, today=now().date(), self_approval_age=self.s.guardian_self_approval_age)
        link.status, link.decided_by, link.approver_role = "approved", who.subject, role
        linked = GuardianLinked(
            user_id=child_id,
            occurred_at=now(),
            guardian_id=parent_id,
            approved_by=who.subject,
            approver_role=role,  # type: ignore[arg-type]
        )
        if not await self.store.decide_link(link, linked):  # a parallel approval decided it: its event alone
            raise Problem(409, "Link already decided", code="link_decided")
        await self.store.audit(who.subject, "guardian.approve", child_id, parent=parent_id, role=role)
        return link

    # --- OIDC clients ---------------------------------------------------------------------------------------
    async def register_client(
        self, who: Principal, name: str, redirect_uris: list[str], post_logout_redirect_uris: list[str], public: bool
    ) -> tuple[oidc.Client, str | None]:
        who.require(MINISTRY_ADMIN, org=None)
        bad = [u for u in redirect_uris + post_logout_redirect_uris if not oidc.valid_redirect_uri(u)]
        if bad or not redirect_uris:
            raise Problem(
                422,
                "Invalid redirect URIs",
                errors=[
                    {
                        "field": "body.redirect_uris",
                        "message": "https (or http on localhost), no fragment",
                        "code": "redirect_uri",
                    }
                ],
            )
        secret = None if public else secrets.token_urlsafe(32)
        client = oidc.Client(
            f"c_{uuid.uuid4().hex[:16]}",
            crypto.token_digest(secret) if secret else None,
            name,
            redirect_uris,
            post_logout_redirect_uris,
        )
        await self.store.save_client(client)
        await self.store.audit(who.subject, "oidc.client.register", client.client_id)
        return client, secret
