"""The organisation tree (province → city → county → school, and the providers), held in memory by every replica:
seeded and loaded at start, read by admins, grown by admins (a new node; a school's code claimed nationally)."""

from __future__ import annotations

import logging
from typing import Any

from common.auth import MINISTRY_ADMIN, Principal
from common.errors import Conflict, NotFound, invalid_input
from identity.domain import crypto, orgs
from identity.handlers.base import Handler

log = logging.getLogger("identity")


def org_not_found() -> NotFound:
    return NotFound("Organisation not found", code="org_not_found")


def summary(n: orgs.OrgNode) -> dict[str, str]:
    return {"path": n.path, "name": n.name, "level": n.level.value}


class Orgs(Handler):
    async def load(self) -> None:
        # The divisions are seeded in every environment (production would have no tree to build on otherwise), the
        # demo subtree only when asked (IDENTITY_SEED_DEMO, refused in production); what exists is not rewritten.
        stored = await self.store.orgs.all()
        held = {n.path for n in stored}
        missing = [n for n in orgs.seed_nodes(demo=self.s.seed_demo) if n.path not in held]
        await self.store.orgs.save(missing)
        self.identity.tree = orgs.OrgTree(sorted(stored + missing, key=lambda n: n.path.count("/")))
        await self._claim_school_codes()

    async def _claim_school_codes(self) -> None:
        """Every school's code is claimed nationally (seeded schools and schools created before codes were
        claimed included), and the tree maps each code to the school holding the claim: a second school with
        the same code, whatever its path, never receives the teachers the registry lists under that code. The
        claims are read once: a start inserts only the codes nobody claimed yet."""
        tree = self.identity.tree
        held = await self.store.orgs.school_codes()
        for node in list(tree.nodes.values()):
            if node.level is orgs.Level.SCHOOL:
                holder = held.get(node.code) or await self.store.orgs.claim_school_code(node.code, node.path)
                if holder != node.path:
                    log.warning("school code %s is held by another path; %s is ignored", node.code, node.path)
                tree.school_by_code[node.code] = holder

    def visible(self, who: Principal) -> list[dict[str, str]]:
        """The subtrees the caller administers."""
        tree = self.identity.tree
        return [summary(tree.nodes[p]) for p in tree.visible_to(who) if p in tree.nodes]

    def node(self, who: Principal, path: str) -> dict[str, Any]:
        """A node and its children, for an admin whose scope covers it."""
        tree = self.identity.tree
        node = tree.get(path)
        if node is None:
            raise org_not_found()
        who.require(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=path)
        return {**summary(node), "children": [summary(tree.nodes[c]) for c in tree.children.get(path, [])]}

    async def add(self, who: Principal, parent: str, code: str, name: str, level: orgs.Level) -> orgs.OrgNode:
        tree = self.identity.tree
        node = tree.get(parent)
        if node is None:
            raise org_not_found()
        who.require(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=parent)
        with invalid_input("body.code", code="org_code"):
            path = orgs.child_path(node, code, level)
        child = orgs.OrgNode(path, crypto.nfc(name))
        taken = Conflict("Organisation code taken: this code is in use already.", code="duplicate_org_code")
        if level is orgs.Level.SCHOOL and await self.store.orgs.claim_school_code(code, path) != path:
            raise taken
        try:
            inserted = await self.store.orgs.insert(child)
        except BaseException:
            if level is orgs.Level.SCHOOL:
                await self.store.orgs.release_school_code(code, path)
            raise
        if not inserted:
            raise taken  # the path exists (and holds its code's claim: keep it)
        tree.add(child)
        await self.store.audit.record(who.subject, "org.create", path)
        return child
