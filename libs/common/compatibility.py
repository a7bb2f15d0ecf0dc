"""The compatibility gate of the event contracts (issue 17): released versions are kept, and a ``vN`` never breaks.

Every released event version's JSON Schema is checked in under ``contracts/schemas/<type>.json``; the file is the
contract subscribers code against. ``python -m common.compatibility check`` (a unit test, so CI and ``make test``)
compares each one with the model declared today and fails on:

- a property removed, retyped (``type``, ``format``, ``const``, ``$ref``, items, alternatives, nullability), or with
  a changed constraint (pattern, bounds, lengths);
- an enum changed either way: narrowed, a new reader rejects old records; widened, an old reader (every consumer
  validates against its model, and a subscriber against this file) rejects the new value;
- a property that becomes required, or stops being required;
- a released type that is no longer declared, before the end of its deprecation period.

What a ``vN`` may gain is a new *optional* property: readers ignore properties they do not know
(``common.messaging.decode`` validates with ``extra="ignore"``), so old and new readers read both. Anything else
is a new type, ``vN+1``, published beside ``vN`` for :data:`DEPRECATION_DAYS` days from the day ``vN+1`` was released
(``x-released`` in its file); only then may ``vN``'s model go (its file stays: records written under it may still
be on a topic). ``python -m common.compatibility write`` records new types and compatible changes; it refuses to
overwrite a released file with a breaking change.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DEPRECATION_DAYS = 180
"""How long a ``vN`` stays declared (read, and in the AsyncAPI document) after its ``vN+1`` was released: two
school terms, enough for every subscriber system to move."""

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas"
SCHEMA_ID = "https://smartedu.cn/contracts/schemas/{type}.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Keywords that document and never change what validates.
_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "deprecated"})
_TYPE_VERSION = re.compile(r"^(?P<name>.+)\.v(?P<n>\d+)$")


@dataclass(frozen=True)
class Released:
    """One released version: its schema (as checked in) and the day it was released."""

    schema: dict[str, Any]
    released: date


def released_schema(event_type: str, schema: dict[str, Any], released: date) -> dict[str, Any]:
    """The file's content: the model's JSON Schema, self-contained (``$defs`` inside), with its id and date."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": SCHEMA_ID.format(type=event_type),
        "x-released": released.isoformat(),
        **schema,
    }


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot replace ``old`` under the same type (empty: it can)."""
    return _Comparison(old, new).run()


class _Comparison:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any]) -> None:
        self.old_root, self.new_root = old_root, new_root
        self.problems: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def run(self) -> list[str]:
        self.compare(self.old_root, self.new_root, "")
        return self.problems

    def resolve(self, schema: Mapping[str, Any], root: dict[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not ref:
            return schema
        name = ref.rsplit("/", 1)[-1]
        return root.get("$defs", {}).get(name, {})

    def compare(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        where = path or "(the event)"
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if old_ref or new_ref:
            if not (old_ref and new_ref):  # a nested model became a plain value or the other way round
                self.problems.append(f"{where}: retyped (was {_summary(old)}, now {_summary(new)})")
                return
            pair = (old_ref or "", new_ref or "")
            if pair in self.seen:  # a recursive model: compared once
                return
            self.seen.add(pair)
            old, new = self.resolve(old, self.old_root), self.resolve(new, self.new_root)
        old_props, new_props = old.get("properties"), new.get("properties")
        for key in sorted(set(old) | set(new)):
            if key in _ANNOTATIONS or key in {"properties", "required", "$defs", "$ref", "$schema", "$id"}:
                continue
            if key.startswith("x-"):
                continue
            a, b = old.get(key), new.get(key)
            if key == "enum":
                self._enum(where, a, b)
            elif key in {"anyOf", "oneOf", "allOf", "prefixItems"}:
                self._alternatives(where, key, a, b, path)
            elif key in {"items", "additionalProperties"} and isinstance(a, dict) and isinstance(b, dict):
                self.compare(a, b, f"{path}[]" if key == "items" else f"{path}{{}}")
            elif a != b:
                self.problems.append(f"{where}: {key} changed from {a!r} to {b!r}")
        if old_props is None and new_props is None:
            return
        old_props, new_props = old_props or {}, new_props or {}
        old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(old_props):
            sub = f"{path}.{name}" if path else name
            if name not in new_props:
                self.problems.append(f"{sub}: removed")
                continue
            if name in old_req and name not in new_req:
                self.problems.append(f"{sub}: no longer required (old readers rely on it)")
            elif name in new_req and name not in old_req:
                self.problems.append(f"{sub}: now required (records written before may lack it)")
            self.compare(old_props[name], new_props[name], sub)
        for name in sorted(set(new_props) - set(old_props)):
            if name in new_req:
                self.problems.append(f"{path + '.' if path else ''}{name}: new required property")

    def _enum(self, where: str, a: list[Any] | None, b: list[Any] | None) -> None:
        if a is None or b is None:
            self.problems.append(f"{where}: enum {'removed' if b is None else 'added'}")
            return
        gone, added = [v for v in a if v not in b], [v for v in b if v not in a]
        if gone:
            self.problems.append(f"{where}: enum narrowed (no longer {gone!r})")
        if added:
            self.problems.append(f"{where}: enum widened ({added!r} would be rejected by old readers)")

    def _alternatives(self, where: str, key: str, a: Any, b: Any, path: str) -> None:
        if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b):
            self.problems.append(f"{where}: {key} changed (was {_summary_list(a)}, now {_summary_list(b)})")
            return
        for old_alt, new_alt in zip(a, b, strict=True):
            self.compare(old_alt, new_alt, path)


def _summary(schema: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_summary(s) for s in schema["anyOf"])
    return str(schema.get("$ref", "").rsplit("/", 1)[-1] or schema.get("type") or schema.get("const") or "any")


def _summary_list(value: Any) -> str:
    return " | ".join(_summary(s) for s in value) if isinstance(value, list) else "nothing"


def _version_of(event_type: str) -> tuple[str, int]:
    match = _TYPE_VERSION.match(event_type)
    if match is None:
        raise ValueError(f"{event_type}: not a versioned type")
    return match["name"], int(match["n"])


def deprecation_ends(event_type: str, released: Mapping[str, Released]) -> date | None:
    """The day ``event_type``'s model may go: :data:`DEPRECATION_DAYS` after its first successor's release."""
    name, n = _version_of(event_type)
    successors = [r.released for t, r in released.items() if _version_of(t)[0] == name and _version_of(t)[1] > n]
    return min(successors) + timedelta(days=DEPRECATION_DAYS) if successors else None


def gate(released: Mapping[str, Released], current: Mapping[str, dict[str, Any]], today: date) -> list[str]:
    """Everything that breaks a released contract, for CI. ``current``: the declared types' schemas."""
    problems: list[str] = []
    for event_type, record in sorted(released.items()):
        if event_type not in current:
            ends = deprecation_ends(event_type, released)
            if ends is None:
                problems.append(f"{event_type}: released, no longer declared, and no v{_version_of(event_type)[1] + 1}")
            elif today < ends:
                problems.append(f"{event_type}: still in its deprecation period (until {ends}): keep its model")
            continue
        problems += [f"{event_type}: {p}" for p in breaking_changes(record.schema, current[event_type])]
    for event_type in sorted(set(current) - set(released)):
        problems.append(f"{event_type}: declared but not released: run `make contracts` and commit its schema")
    return problems


# --- the files -------------------------------------------------------------------------------------------
def current_schemas() -> dict[str, dict[str, Any]]:
    from common.contracts import EVENT_TYPES

    return {t: model.model_json_schema() for t, model in EVENT_TYPES.items()}


def load_released(directory: Path = SCHEMAS_DIR) -> dict[str, Released]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        released = date.fromisoformat(data["x-released"])
        schema = {k: v for k, v in data.items() if k not in {"$schema", "$id", "x-released"}}
        out[path.stem] = Released(schema, released)
    return out


def write(directory: Path = SCHEMAS_DIR, today: date | None = None) -> list[str]:
    """Records new types and compatible changes; returns the breaking ones (their files are left as they are)."""
    today = today or date.today()
    directory.mkdir(parents=True, exist_ok=True)
    released = load_released(directory)
    refused = []
    for event_type, schema in sorted(current_schemas().items()):
        old = released.get(event_type)
        if old is not None:
            problems = breaking_changes(old.schema, schema)
            if problems:
                refused += [f"{event_type}: {p}" for p in problems]
                continue
        day = old.released if old else today
        text = json.dumps(released_schema(event_type, schema, day), ensure_ascii=False, indent=2) + "\n"
        (directory / f"{event_type}.json").write_text(text)
    return refused


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "write":
        problems = write()
    elif command == "check":
        problems = gate(load_released(), current_schemas(), date.today())
    else:
        print("usage: python -m common.compatibility check|write", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
