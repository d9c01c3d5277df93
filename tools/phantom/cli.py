"""``mammoedge phantom``: write synthetic exams (DICOM + truth.json) or a contact sheet."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from .errors import PhantomError
from .truth import Density

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output directory (one sub-folder per exam)")
    parser.add_argument("--exams", type=int, default=1, help="number of exams (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed -> same files (default 0)")
    parser.add_argument("--vendor", default="all", help="hologic, ge, siemens, fuji or all (cycled; default)")
    parser.add_argument("--kind", choices=("screening", "stereo"), default="screening")
    parser.add_argument("--cohort", action="store_true", help="add a simulated time-to-cancer label (risk cohort)")
    parser.add_argument("--density", choices=[d.value for d in Density], help="BI-RADS density (default: drawn)")
    parser.add_argument("--normal-fraction", type=float, default=0.3, help="share of exams with no findings")
    parser.add_argument("--size", choices=("full", "small"), default="full",
                        help="small: same field of view, half the pixels per side (fast tests)")
    parser.add_argument("--contact-sheet", type=Path, metavar="PNG",
                        help="write a contact sheet PNG (views and crops of every morphology) and exit")


def _check(args: argparse.Namespace) -> None:
    if args.contact_sheet is None and args.out is None:
        raise PhantomError("--out DIR is required (or --contact-sheet PNG)")
    if not 0 <= args.exams <= 100000:
        raise PhantomError(f"--exams {args.exams} is out of range; allowed: 0..100000")
    if not 0.0 <= args.normal_fraction <= 1.0:
        raise PhantomError(f"--normal-fraction {args.normal_fraction} is out of range; allowed: 0..1")


def run(args: argparse.Namespace, config: object) -> int:
    _check(args)
    if args.contact_sheet is not None:
        from .contact_sheet import write_contact_sheet
        write_contact_sheet(args.contact_sheet, seed=args.seed)
        print(f"contact sheet: {args.contact_sheet}")
        return 0
    from . import vendors
    profiles = vendors.resolve(args.vendor)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(args.exams), desc=f"phantom {args.kind}", unit="exam"):
        if args.kind == "stereo":
            from .stereo import make_stereo
            make_stereo(out / f"stereo_{i:05d}", seed=args.seed, index=i, size=args.size, density=args.density)
        else:
            from .exam import make_exam
            make_exam(out / f"exam_{i:05d}", seed=args.seed, index=i, profile=profiles[i % len(profiles)],
                      size=args.size, density=args.density, normal_fraction=args.normal_fraction,
                      with_cohort=args.cohort)
    log.info("wrote %d %s exams to %s", args.exams, args.kind, out)
    return 0
