"""Join codes of online classes (班级码): short, typed by a child, never a way to list classes.

8 characters from 31 (no 0/O, 1/I/L): 31^8 ≈ 8.5 × 10^11 codes, and each account may fail only
``CLASSGROUPS_CODE_MAX_FAILURES`` times per window, so guessing a live code is hopeless. A code leads to one class
and nothing else; it expires, and its owner may revoke it at once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.errors import Gone, NotFound

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8
PATTERN = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(typed: str) -> str:
    """What the child typed, as stored: upper case, without spaces or dashes."""
    return typed.strip().upper().replace(" ", "").replace("-", "")


@dataclass(frozen=True)
class ClassCode:
    code: str
    class_id: str
    expires_at: datetime
    created_by: str

    @classmethod
    def issue(cls, class_id: str, by: str, at: datetime, ttl: timedelta) -> ClassCode:
        return cls(new_code(), class_id, at + ttl, by)

    def redeem(self, at: datetime) -> str:
        if at >= self.expires_at:
            raise Gone("This class code has expired; ask the teacher for a new one.", code="code_expired")
        return self.class_id


def unknown_code() -> NotFound:
    """The one answer for a code that does not exist, was revoked or is malformed."""
    return NotFound("No class has this code.", code="unknown_code")
