"""``mammoedge evaluate MODEL ...``: one subcommand per model (detector; more as they land)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .detector import cli as detector

    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    detector.add_evaluate_arguments(models.add_parser("detector", help="the microcalcification detector"))


def run(args: argparse.Namespace, config: object) -> int:
    from .detector import cli as detector

    return detector.evaluate_command(args, config)
