"""Validate rendered Kubernetes manifests offline, the way the API server would (strict field validation).

Runs in the kubernetes-validate tool environment that `deploy/local/ops-tools.sh provision` makes (it has
kubernetes-validate, jsonschema and PyYAML; the services' environment has none of them):

    eval "$(deploy/local/ops-tools.sh env)"
    $SMARTEDU_KUSTOMIZE build deploy/k8s/overlays/production \
      | $SMARTEDU_KUBEVAL_PYTHON deploy/local/k8s_validate.py --crds "$SMARTEDU_CRDS" -

- Built-in kinds: kubernetes-validate's schemas of each ``--kubernetes-version`` (strict: an unknown field is an
  error, as ``kubectl apply`` (field validation Strict) makes it).
- Custom resources: the ``openAPIV3Schema`` of the CustomResourceDefinitions in ``--crds`` (structural schemas:
  an object that lists its properties and does not preserve unknown fields rejects others, as the API server's
  strict field validation does), and their ``metadata`` against the core ObjectMeta schema.
- A resource whose kind has no schema is an error: nothing passes unchecked.
  CEL rules (``x-kubernetes-validations``) are not evaluated.

Prints one line per problem and a summary ``validated N resources (kind: count, ...)``; exit 1 on any problem.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import yaml

# The package re-reads its 5 MB definitions file for every resource: once per file is enough.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)


def json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI v3 structural schema as a JSON schema with the API server's strict field semantics."""
    out = dict(schema)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {k: json_schema(v) for k, v in out["properties"].items()}
        if not out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = json_schema(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = json_schema(out["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [json_schema(s) for s in out[key]]
    if isinstance(out.get("not"), dict):
        out["not"] = json_schema(out["not"])
    return out


def load_crds(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → JSON schema, for every served version of every CRD in ``folder``."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    schema = json_schema(version["schema"]["openAPIV3Schema"])
                    schema["properties"]["metadata"] = {"type": "object"}  # checked against ObjectMeta instead
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


def where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def validate(doc: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]], versions: list[str]) -> list[str]:
    """The problems of one resource (empty when it is valid)."""
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    crd_schema = crds.get((api_version, kind))
    problems: list[str] = []
    for version in versions:
        if crd_schema is not None:
            # The CR's metadata is ObjectMeta: checked by wrapping it in the smallest built-in kind.
            target = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata", {})}
            for error in jsonschema.Draft202012Validator(crd_schema).iter_errors(doc):
                problems.append(f"{where(error)}: {error.message}")
        else:
            target = doc
        try:
            kubernetes_validate.validate(target, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where(error)}: {error.message} (Kubernetes {version})")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"no schema for {api_version} {kind} (Kubernetes {version}, nor a CRD in --crds)")
        if crd_schema is not None:
            break  # the CRD's schema does not depend on the Kubernetes version
    return list(dict.fromkeys(problems))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="YAML files of manifests ('-': standard input)")
    parser.add_argument("--crds", type=Path, required=True, help="folder of CustomResourceDefinition YAML files")
    parser.add_argument(
        "--kubernetes-version",
        action="append",
        dest="versions",
        help="validate built-in kinds against this version (repeatable; default: 1.27, the oldest supported, "
        "and the newest kubernetes-validate knows)",
    )
    args = parser.parse_args()
    versions = args.versions or ["1.27", kubernetes_validate.utils.latest_version()]
    crds = load_crds(args.crds)
    kinds: collections.Counter[str] = collections.Counter()
    failures = 0
    for name in args.files:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            kinds[doc.get("kind", "?")] += 1
            for problem in validate(doc, crds, versions):
                failures += 1
                meta = doc.get("metadata") or {}
                print(f"INVALID {doc.get('kind')}/{meta.get('name')}: {problem}")
    summary = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    print(f"validated {sum(kinds.values())} resources ({summary}) against Kubernetes {', '.join(versions)}")
    print(f"{failures} problems" if failures else "no problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
