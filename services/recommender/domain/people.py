"""Who is who, from identity's events (ids and account kinds only; no personal data): a token without the ``kind``
claim still gets a teacher's or a student's page. Classes, which scope teachers' figures, come from class groups'
events (``domain/classes.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.identity import UserRegistered

PEOPLE_EVENTS = (UserRegistered,)


@dataclass
class People:
    kinds: dict[str, str] = field(default_factory=dict)

    def apply(self, event: UserRegistered) -> None:
        self.kinds[event.user_id] = event.kind
