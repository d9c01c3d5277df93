"""Test helpers: a minimal JSON-Schema subset validator and dense-bright pixel decoding."""

from __future__ import annotations

import numpy as np
import pydicom

_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int,
          "boolean": bool, "null": type(None)}


def validate(value, schema: dict, root: dict, path: str = "$") -> list[str]:
    """Errors of ``value`` against the subset of JSON Schema used by truth.schema.json."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        results = [validate(value, s, root, path) for s in schema["oneOf"]]
        return [] if sum(not r for r in results) == 1 else [f"{path}: matches not exactly one of oneOf"]
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, _TYPES[t]) and not (t in ("number", "integer") and isinstance(value, bool))
                 for t in types)
        if not ok:
            return errors + [f"{path}: {type(value).__name__} is not {types}"]
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += validate(item, props[key], root, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(item, schema["additionalProperties"], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            if "items" in schema:
                errors += validate(item, schema["items"], root, f"{path}[{i}]")
    return errors


def dense_bright(ds: pydicom.Dataset) -> np.ndarray:
    """Pixels as float with dense tissue bright, whatever the vendor convention (test-side only)."""
    pixels = ds.pixel_array.astype(np.float64)
    if ds.PresentationIntentType == "FOR PROCESSING":
        return -np.log(np.maximum(pixels, 1.0))
    if ds.PhotometricInterpretation == "MONOCHROME1":
        return float((1 << ds.BitsStored) - 1) - pixels
    return pixels


def lands_on_object(image: np.ndarray, x: float, y: float, radius: int = 2) -> bool:
    """Is the local maximum near (x, y) brighter than the 75th percentile of a surrounding annulus + 2 sigma?"""
    h, w = image.shape
    r_out = radius + 10
    y0, y1 = max(0, int(y) - r_out), min(h, int(y) + r_out + 1)
    x0, x1 = max(0, int(x) - r_out), min(w, int(x) + r_out + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dist = np.hypot(xx - x, yy - y)
    patch = image[y0:y1, x0:x1]
    ring = patch[dist >= radius + 5]
    return bool(patch[dist <= radius + 0.5].max() > np.median(ring) + 2 * ring.std())
