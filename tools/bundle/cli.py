"""``mammoedge bundle``: create the update repository, build and publish bundles, refresh the timestamp (lab)."""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from mammoedge.firmware.bundle import BundleKind
from mammoedge.runtime.config import Config

from .build import build_bundle, build_wheelhouse, publish
from .repository import Repository

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = sub.add_parser("init-repo", help="new TUF repository and keys (root 2 of 3, targets 1 of 2)")
    init.add_argument("--repo", type=Path, required=True)
    init.add_argument("--keys", type=Path, required=True)
    build = sub.add_parser("build", help="write a bundle (and publish it with --repo)")
    build.add_argument("--version", required=True, help="bundle version (dotted numbers, strictly increasing)")
    build.add_argument("--kind", choices=[k.value for k in BundleKind], default=BundleKind.FULL.value)
    build.add_argument("--min-from", default="0.0.0", help="lowest installed version this bundle updates from")
    build.add_argument("--software-version", help="mammoedge version in the bundle (default: --version)")
    build.add_argument("--models", type=Path, help="models folder (default: the package's models/)")
    build.add_argument("--wheelhouse", type=Path, help="existing wheelhouse folder (else built with pip wheel)")
    build.add_argument("--project", type=Path, default=Path("."), help="project to 'pip wheel' (default: .)")
    build.add_argument("--no-deps", action="store_true", help="wheel only the project (dependencies come "
                                                              "from update.base_site on the box)")
    build.add_argument("--migrations", type=Path, help="configuration migrations folder")
    build.add_argument("--reference", action="store_true",
                       help="record the health check's synthetic-exam result for these models (models/health.json)")
    build.add_argument("--out", type=Path, required=True, help="bundle file to write (.tar)")
    build.add_argument("--repo", type=Path, help="publish into this TUF repository")
    build.add_argument("--keys", type=Path, help="the repository's keys folder")
    ts = sub.add_parser("timestamp", help="sign a fresh timestamp (run daily; boxes refuse a stale one)")
    ts.add_argument("--repo", type=Path, required=True)
    ts.add_argument("--keys", type=Path, required=True)


def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == "init-repo":
        Repository.create(args.repo, args.keys)
        print(f"repository {args.repo}; give boxes {args.repo / 'metadata' / '1.root.json'} as update.trusted_root")
        return 0
    if args.action == "timestamp":
        Repository(args.repo, args.keys).refresh_timestamp()
        return 0
    kind = BundleKind(args.kind)
    from mammoedge.runtime.inference import shipped_models_dir

    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or shipped_models_dir()
        staged = Path(tmp) / "models"
        import shutil

        shutil.copytree(models, staged, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
        if args.reference:
            import dataclasses

            from mammoedge.firmware.health import REFERENCE_NAME, exam_summary

            ref_config = dataclasses.replace(config, inference=dataclasses.replace(config.inference, models_dir=staged))
            (staged / REFERENCE_NAME).write_text(json.dumps(exam_summary(ref_config), indent=1, sort_keys=True))
        wheelhouse, requirements = args.wheelhouse, []
        software = args.software_version or args.version
        if kind is BundleKind.FULL:
            if wheelhouse is None:
                wheelhouse = Path(tmp) / "wheelhouse"
                build_wheelhouse(wheelhouse, [str(args.project)], no_deps=args.no_deps)
            requirements = [f"mammoedge=={software}"]
        out = build_bundle(args.out, version=args.version, kind=kind, models_dir=staged, software_version=software,
                           min_from_version=args.min_from, requirements=requirements, wheelhouse=wheelhouse,
                           migrations=args.migrations)
    print(f"bundle {out} ({out.stat().st_size} bytes)")
    if args.repo is not None:
        if args.keys is None:
            raise SystemExit("--repo needs --keys")
        print(f"published as {publish(Repository(args.repo, args.keys), out, version=args.version, kind=kind)}")
    return 0
