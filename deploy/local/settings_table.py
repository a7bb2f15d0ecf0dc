"""Prints the README's table of settings from the settings classes themselves (`make settings-table`)."""

import importlib
import sys
from pathlib import Path

from common.auth import AuthSettings
from common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- settings-table -->"


def rows() -> list[tuple[str, str, str, str]]:
    out = []
    for name, field in ServiceSettings.model_fields.items():
        out.append((f"`{field.validation_alias or name.upper()}`", "all", repr(field.default), field.description or ""))
    for name, field in AuthSettings.model_fields.items():  # every service that verifies tokens
        out.append((f"`AUTH_{name.upper()}`", "all", repr(field.default), field.description or ""))
    for service in sorted(p.name for p in (ROOT / "services").iterdir() if (p / "settings.py").exists()):
        module = importlib.import_module(f"{service}.settings")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings:
                prefix = obj.model_config.get("env_prefix", "")
                for name, field in obj.model_fields.items():
                    if name in ServiceSettings.model_fields:
                        continue
                    var = field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name}"
                    default = "(required)" if field.is_required() else repr(field.default)
                    out.append((f"`{var.upper()}`", service, default, field.description or ""))
    return out


def table() -> str:
    lines = ["| variable | service | default | meaning |", "| --- | --- | --- | --- |"]
    for var, service, default, meaning in rows():
        lines.append(f"| {var} | {service} | {default.replace('|', '/')} | {meaning.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--write-readme" in sys.argv:
        readme = ROOT / "README.md"
        head = readme.read_text().split(MARKER)[0]
        readme.write_text(head + MARKER + "\n" + table())
    else:
        print(table(), end="")
