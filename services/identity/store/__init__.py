"""The only code touching identity's database: all its queries and all its document mapping, one module of this
package per group of collections (:class:`IdentityStore` holds one of each). Every read is by ``_id`` (or a whole,
small collection read once at start: signing keys, org nodes); every uniqueness rule is an insert of a unique
``_id`` (``Collections._insert``, over ``common.store.insert_new``), which is atomic even on FerretDB (whose updates
are read–modify–write without transactions).

Collections and ``_id`` shapes, by module:
  accounts.py   accounts   ``u_<32 hex>``                    the account (PII fields encrypted)
                logins     ``login:<phone|email>:<hmac>``    → account id; inserting it claims the identifier
                nids       ``nid:<hmac>``                    → account id; one teacher per national ID number
                invites    ``invite:<user id>:<role>@<org>`` role grants waiting for the account's consent
                bootstrap  ``bootstrap:ministry_admin``      the one-time first-admin step ran (insert = atomic claim)
  counters.py   throttle   ``thr:<subject>:<generation>:<window>:<n>`` failed-login slots (subject
                           ``acct:<login key>`` or ``ip:<ip>``); ``lock:<subject>:<generation>`` locks;
                           ``rl:<action>:<subject>:<window>:<n>`` rate-limit slots. Every counter is a set of slot
                           documents claimed by inserts (see ``CounterStore.claim_slot``)
                resets     ``reset:<user id>`` the pending password reset code (HMAC only);
                           ``reset-attempt:<code id>:<n>`` its guesses, ``reset-used:<code id>`` its single use
  sessions.py   refresh    ``rt:<sha256>`` / ``rt-used:<sha256>`` / ``fam:<family>``  refresh tokens, use markers,
                           families
                keys       ``key:<kid>``                     signing keys, private part encrypted
  orgs.py       orgs       ``org:<path>``                    hierarchy nodes
                orgcodes   ``school:<code>``                 → org path; inserting it claims a school code nationally
  oidc.py       clients    ``client:<client id>``            OIDC clients
                codes      ``code:<sha256>`` / ``code-used:<sha256>``  authorization codes and their single use
                consents   ``consent:<user id>:<client id>`` OIDC scopes a user consented to, per relying party
  guardians.py  glinks     ``glink:<child>:<parent>``        guardian links; ``glink-decision:<child>:<parent>`` the
                           one decision on a link (its insert is the transition)
  audit.py      audit      ``audit:<ISO time>:<uuid>``       admin actions, role grants (insert only)
  subscribers.py subscribers, replays, replayclaims, feedplaces: subscriber systems and their feeds (see the module)

Accounts are changed field by field (:meth:`AccountStore.update`), never replaced: on MongoDB each update of one
document is atomic, so a role grant and a password change on two replicas both survive. FerretDB applies an
update as read–modify–write without a transaction (40 concurrent ``$addToSet``s of distinct values kept 1–7;
a ``{_id, v: 0}`` filter let up to 20 of 40 concurrent updates "win"), so this store also serialises the writes
to one account within the process (``KeyedLocks``): one FerretDB-backed process (local runs, CI) loses nothing.

Events go through the outbox (``common.outbox``), in the same single-document write as the state they announce
(``declare_outbox`` names the three sources): a registration's inside the inserted account, a grant's, a
revocation's, a deactivation's, a password change's and a teacher verification's ``$push``ed into the account's
``outbox`` field by the very ``update_one`` that changes it (so only when its condition matched), a reset code's
``NotificationRequested`` in the ``resets`` document, a ``GuardianLinked`` in the inserted link decision. An
update pushes its entries beside those of earlier changes (a ``$set`` of the list could erase another writer's);
entries already published are pulled (``$pullAll``) from an account before its next evented change
(``Collections._prune``; a reset document's go with it when its code expires).
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from common.outbox import Outbox
from identity.store.accounts import AccountStore
from identity.store.audit import AuditLog
from identity.store.counters import CounterStore, ResetStore
from identity.store.guardians import LinkStore
from identity.store.oidc import OidcStore
from identity.store.orgs import OrgStore
from identity.store.sessions import SessionStore
from identity.store.subscribers import SubscriberStore

# The collections whose documents carry outbox entries, in the default ``outbox`` field.
OUTBOX_SOURCES = ("accounts", "resets", "glinks")


def declare_outbox(outbox: Outbox) -> None:
    """Identity's outbox sources. A sweep reads only a document's entries (``projection=()``): the default decode
    needs nothing else, and an account's other fields are PII."""
    for collection in OUTBOX_SOURCES:
        outbox.source(collection, projection=())


class IdentityStore:
    """Identity's store, one attribute per group of collections (modules of this package)."""

    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.accounts = AccountStore(db, outbox)  # accounts, logins, nids, invites, bootstrap
        self.counters = CounterStore(db, outbox)  # throttle (and the reset guesses' slots)
        self.resets = ResetStore(db, outbox)  # resets
        self.sessions = SessionStore(db, outbox)  # refresh, keys
        self.orgs = OrgStore(db, outbox)  # orgs, orgcodes
        self.oidc = OidcStore(db, outbox)  # clients, codes, consents
        self.links = LinkStore(db, outbox)  # glinks
        self.audit = AuditLog(db, outbox)  # audit
        self.subscribers = SubscriberStore(db, outbox)  # subscribers, replays, replayclaims, feedplaces


__all__ = ["OUTBOX_SOURCES", "IdentityStore", "declare_outbox"]
