"""``mammoedge train MODEL ...``: one subcommand per model (detector, verifier, morphology)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .detector import cli as detector
    from .morphology import cli as morphology
    from .verifier import cli as verifier

    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    detector.add_train_arguments(models.add_parser("detector", help="the microcalcification detector"))
    verifier.add_train_arguments(models.add_parser("verifier", help="the cluster verifier (false-cluster reduction)"))
    morphology.add_train_arguments(models.add_parser("morphology", help="the cluster morphology model"))


def run(args: argparse.Namespace, config: object) -> int:
    from .detector import cli as detector
    from .morphology import cli as morphology
    from .verifier import cli as verifier

    return {"detector": detector, "verifier": verifier, "morphology": morphology}[args.model].train_command(args)
