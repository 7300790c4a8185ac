"""Strict validation of an InferenceService against the kserve SDK's own model classes.

Run as a script by the interpreter that has `kserve` (its pins conflict with toolkit's venv, so
usually .venv-kserve): reads a JSON list of manifests on stdin, writes the list of their problems as JSON on
stdout, exits 0 when all are valid and 3 when not
(1, Python's own, means it could not run). Run it with `python -P`: beside it lies toolkit's
kserve.py, which would shadow the SDK. Depends on nothing from toolkit.

The SDK's classes are OpenAPI-generated: `openapi_types` names each attribute's type and
`attribute_map` its JSON key. Its own deserializer ignores unknown keys, so a misspelt field
(`storageURI`) would pass silently; here an unknown key is an error, and the classes' setters
check required fields and enumerations as they are built.
"""

from __future__ import annotations

import difflib
import json
import re
import sys

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
INVALID = 3
# A Kubernetes quantity ("500m", "4Gi", 2) is text or a number; bytes and URLs travel as text.
PRIMITIVES = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "object": object,
    "ResourceQuantity": (str, int, float),
    "bytes": str,
    "KnativeURL": str,
}


def _model_class(name: str):
    import kserve.models
    import kubernetes.client.models

    for module in (kserve.models, kubernetes.client.models):
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(f"no kserve or kubernetes model class {name}")


def build(type_name: str, value, where: str):
    """The SDK object for `value` as `type_name`, raising ValueError naming the first bad field."""
    if value is None:
        return None
    if match := re.fullmatch(r"[Ll]ist\[(.+)\]", type_name):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        return [build(match.group(1), item, f"{where}[{index}]") for index, item in enumerate(value)]
    if match := re.fullmatch(r"dict\(str, (.+)\)|Dict\[str, (.+)\]", type_name):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
        item_type = match.group(1) or match.group(2)
        return {key: build(item_type, item, f"{where}.{key}") for key, item in value.items()}
    if type_name in PRIMITIVES:
        expected = PRIMITIVES[type_name]
        if (type_name not in ("bool", "object") and isinstance(value, bool)) or not isinstance(
            value, expected
        ):
            raise ValueError(f"{where}: expected {type_name}, got {type(value).__name__} {value!r}")
        return value
    if type_name == "datetime":
        return value
    cls = _model_class(type_name)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a {type_name} mapping, got {type(value).__name__}")
    by_key = {key: attribute for attribute, key in cls.attribute_map.items()}
    unknown = sorted(set(value) - set(by_key))
    if unknown:
        lowered = {key.lower(): key for key in by_key}
        guesses = sorted(
            {
                lowered[close]
                for key in unknown
                for close in difflib.get_close_matches(key.lower(), lowered, n=1)
            }
        )
        hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} for {type_name}{hint}")
    arguments = {
        by_key[key]: build(cls.openapi_types[by_key[key]], item, f"{where}.{key}")
        for key, item in value.items()
    }
    try:
        return cls(**arguments)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None


def problems(manifest) -> list[str]:
    if not isinstance(manifest, dict):
        return ["the manifest must be a mapping"]
    found = []
    if manifest.get("apiVersion") != API_VERSION:
        found.append(f"apiVersion must be {API_VERSION}, not {manifest.get('apiVersion')!r}")
    if manifest.get("kind") != KIND:
        found.append(f"kind must be {KIND}, not {manifest.get('kind')!r}")
    try:
        service = build("V1beta1InferenceService", manifest, "InferenceService")
    except (ValueError, LookupError) as error:
        return [*found, str(error)]
    if service.spec is None or service.spec.predictor is None:
        found.append("InferenceService.spec.predictor is required")
    return found


def main() -> int:
    """stdin: a JSON list of manifests; stdout: a JSON list of their problem lists (one import of kserve)."""
    found = [problems(manifest) for manifest in json.load(sys.stdin)]
    json.dump(found, sys.stdout)
    return INVALID if any(found) else 0


if __name__ == "__main__":
    sys.exit(main())
