"""``mammoedge inspect FILE...``: what the reader decided about each file, or why it refused it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..config import Config
from ..errors import InputError
from ..preprocess import normalize
from ..dicom.reader import read_mammogram


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="DICOM files or folders")
    parser.add_argument("--json", action="store_true", help="one JSON document (a list) for scripts")
    parser.add_argument("--no-normalize", action="store_true", help="read and decode only; skip normalization")


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            out.append(path)
    return out


def inspect_file(path: Path, config: Config, with_normalize: bool = True) -> dict:
    """The reader's decisions for one file as a JSON-friendly dict (no UIDs, no patient data)."""
    try:
        mammogram = read_mammogram(path, config.reader)
    except InputError as exc:
        return {"file": os.fspath(path), "ok": False, "reason": exc.reason, "error": str(exc)}
    entry = {"file": os.fspath(path), "ok": True, **mammogram.header.summary(),
             "decisions": list(mammogram.decisions)}
    if with_normalize:
        view = normalize(mammogram, config.preprocess)
        entry.update(normalized_shape=list(view.image.shape), model_spacing_mm=view.spacing_mm,
                     flip_horizontal=view.transform.flip_horizontal, flip_vertical=view.transform.flip_vertical,
                     breast_area_cm2=round(float(view.mask.sum()) * view.spacing_mm ** 2 / 100.0, 1),
                     pectoral_found=view.pectoral is not None, decisions=list(view.decisions))
    return entry


def _text(entry: dict) -> str:
    if not entry["ok"]:
        return f"{entry['file']}: REJECTED [{entry['reason']}] {entry['error']}"
    lines = [f"{entry['file']}:",
             f"  {entry['manufacturer'] or '(no manufacturer)'} | {entry['transfer_syntax']} | "
             f"{entry['rows']}x{entry['columns']} | {entry['bits_stored']} bits | {entry['photometric']} | "
             f"{entry['presentation_intent']}",
             f"  {entry['laterality']} {entry['view']} | spacing {entry['spacing_mm'][0]:.4g} mm "
             f"({entry['spacing_source']})"]
    if "normalized_shape" in entry:
        lines.append(f"  normalized {entry['normalized_shape'][0]}x{entry['normalized_shape'][1]} at "
                     f"{entry['model_spacing_mm']:g} mm | flips h={entry['flip_horizontal']} "
                     f"v={entry['flip_vertical']} | breast {entry['breast_area_cm2']} cm2 | pectoral "
                     f"{'found' if entry['pectoral_found'] else 'not found'}")
    lines += [f"    - {d}" for d in entry["decisions"]]
    return "\n".join(lines)


def run(args: argparse.Namespace, config: Config) -> int:
    entries = [inspect_file(p, config, not args.no_normalize) for p in _files(args.files)]
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            print(_text(entry))
    return 0 if entries and all(e["ok"] for e in entries) else 1
