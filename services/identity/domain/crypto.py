"""Secrets handling: password hashing, PII encryption at rest, keyed lookup hashes, sealed notifications.

Passwords: Argon2id (RFC 9106) through argon2-cffi. Defaults: ``time_cost=2``, ``memory_cost=19456`` KiB
(19 MiB), ``parallelism=1``, 16-byte salt, 32-byte hash: the OWASP 2024 minimum for Argon2id, chosen because
login is the platform's peak-hour hot path (tens of millions of logins a day at the start of term) and 19 MiB
per concurrent hash bounds memory per pod. They are settings; a stored hash records its own parameters, and
:meth:`Passwords.needs_rehash` upgrades old hashes at the next successful login.

Phone numbers, national ID numbers, e-mail addresses and real names are stored encrypted with AES-256-GCM
(random 96-bit nonce, the field name and owner id as associated data so a ciphertext cannot be moved to
another field or account). They are found through HMAC-SHA256 of the normalised value under a separate key
(a lookup hash), which is what the ``_id`` of the login index documents contains. Neither key ever leaves
the settings; key ids are stored with each ciphertext so keys can rotate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64e(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


# --- normalisation (what two spellings of the same identifier have in common) -----------------------------
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")  # mainland mobile numbers (11 digits, 13x–19x)


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-()]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE_RE.match(digits):
        raise ValueError("not a mainland China mobile number")
    return digits


def normalise_email(raw: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


_NID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_NID_CHECK = "10X98765432"


def normalise_national_id(raw: str) -> str:
    """18-character resident identity number (GB 11643) with its ISO 7064 MOD 11-2 check character."""
    value = raw.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise ValueError("not an 18-character resident identity number")
    total = sum(int(c) * w for c, w in zip(value[:17], _NID_WEIGHTS, strict=True))
    if _NID_CHECK[total % 11] != value[17]:
        raise ValueError("check character does not match")
    return value


# --- passwords ------------------------------------------------------------------------------------------
COMMON_PASSWORDS = frozenset(
    {
        "123456",
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "password1",
        "qwerty123",
        "11111111",
        "88888888",
        "66666666",
        "a1234567",
        "abc12345",
        "iloveyou",
        "woaini1314",
        "qwertyuiop",
        "1q2w3e4r",
    }
)


def password_problems(password: str, *, min_length: int = 8, personal: tuple[str, ...] = ()) -> list[str]:
    """Why a new password is refused (empty: accepted). NIST SP 800-63B style: length over composition,
    a deny-list of common passwords, at least two character classes, not containing the login identifier."""
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if len(password) > 128:
        problems.append("must be at most 128 characters")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z\d]"))
    if classes < 2:
        problems.append("must mix at least two of lower case, upper case, digits and symbols")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("is too common")
    for value in personal:
        if value and len(value) >= 4 and value.lower() in password.lower():
            problems.append("must not contain your phone number or e-mail")
            break
    return problems


class Passwords:
    def __init__(self, *, time_cost: int = 2, memory_cost_kib: int = 19456, parallelism: int = 1) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verifying against this when the account is unknown costs the same as a real check: the answer
        # time does not reveal whether a phone number is registered.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    @property
    def parameters(self) -> dict[str, int | str]:
        h = self.hasher
        return {
            "type": "argon2id",
            "time_cost": h.time_cost,
            "memory_cost_kib": h.memory_cost,
            "parallelism": h.parallelism,
            "hash_len": h.hash_len,
            "salt_len": h.salt_len,
        }

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


# --- PII at rest ----------------------------------------------------------------------------------------
class PiiVault:
    """AES-256-GCM for PII fields, HMAC-SHA256 lookup hashes. Keys: 32 bytes each, base64url."""

    def __init__(self, encryption_keys: dict[str, str], active_key_id: str, lookup_key: str) -> None:
        self._keys = {kid: AESGCM(b64d(k)) for kid, k in encryption_keys.items()}
        if active_key_id not in self._keys:
            raise ValueError("the active PII key id has no key")
        self._active = active_key_id
        self._lookup = b64d(lookup_key)
        if len(self._lookup) < 32:
            raise ValueError("the lookup key must have at least 32 bytes")

    def lookup_hash(self, kind: str, normalised: str) -> str:
        """Deterministic keyed hash; without the key, a table of all 1.3 billion phone numbers is useless."""
        return hmac.new(self._lookup, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str, *, field: str, owner: str) -> str:
        nonce = os.urandom(12)
        ct = self._keys[self._active].encrypt(nonce, value.encode(), f"{field}|{owner}".encode())
        return f"{self._active}.{b64e(nonce + ct)}"

    def decrypt(self, token: str, *, field: str, owner: str) -> str:
        kid, _, data = token.partition(".")
        raw = b64d(data)
        return self._keys[kid].decrypt(raw[:12], raw[12:], f"{field}|{owner}".encode()).decode()


def seal_for_gateway(key: str, key_id: str, payload: dict[str, str], *, reference: str) -> str:
    """Encrypt a notification's private part (destination, one-time code) for the notification gateway,
    which alone holds ``key``. The notification id is associated data: a sealed payload cannot be replayed
    under another notification."""
    nonce = os.urandom(12)
    ct = AESGCM(b64d(key)).encrypt(nonce, json.dumps(payload).encode(), reference.encode())
    return f"{key_id}.{b64e(nonce + ct)}"


def open_sealed(key: str, sealed: str, *, reference: str) -> dict[str, str]:
    """What the notification gateway does (and the tests)."""
    _, _, data = sealed.partition(".")
    raw = b64d(data)
    return json.loads(AESGCM(b64d(key)).decrypt(raw[:12], raw[12:], reference.encode()))


def token_digest(value: str) -> str:
    """SHA-256 of a high-entropy bearer secret (refresh token, code, client secret): enough for secrets of
    256 random bits, and lets the store look them up by ``_id`` without storing them."""
    return hashlib.sha256(value.encode()).hexdigest()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()
