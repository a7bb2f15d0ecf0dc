"""Roster files: a school's admin uploads the students of an administrative class as JSONL (one
``{"account_id": …}`` per line) or CSV (a header with ``account_id``). Parsing is pure; every bad line is reported
with its number and why, and the good lines are kept (nothing valid is lost)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import orjson

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str
    field: str | None = None
    class_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"line": self.line, "reason": self.reason}
        if self.field:
            out["field"] = self.field
        if self.class_id:
            out["class_id"] = self.class_id
        return out


@dataclass
class Parsed:
    rows: list[tuple[int, str]]  # (line number, account id), first occurrence of each id
    bad: list[BadRow]
    repeated: int = 0


def parse(body: bytes, content_type: str) -> Parsed:
    text = body.decode("utf-8-sig", errors="replace")
    if "csv" in content_type:
        return _csv(text)
    return _jsonl(text)


def _jsonl(text: str) -> Parsed:
    out = Parsed([], [])
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.bad.append(BadRow(n, "not_json"))
            continue
        account = value.get("account_id") if isinstance(value, dict) else None
        _take(out, seen, n, account)
    return out


def _csv(text: str) -> Parsed:
    out = Parsed([], [])
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "account_id" not in [f.strip() for f in reader.fieldnames]:
        out.bad.append(BadRow(1, "missing_header", "account_id"))
        return out
    seen: set[str] = set()
    for row in reader:
        account = {k.strip(): (v or "").strip() for k, v in row.items() if k}.get("account_id")
        _take(out, seen, reader.line_num, account)
    return out


def _take(out: Parsed, seen: set[str], n: int, account: object) -> None:
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        out.bad.append(BadRow(n, "bad_account_id", "account_id"))
    elif account in seen:
        out.repeated += 1
    else:
        seen.add(account)
        out.rows.append((n, account))
