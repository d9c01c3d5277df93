"""``mammoedge evaluate MODEL ...``: one subcommand per model (detector, morphology), and the phantom's observer."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .detector import cli as detector
    from .morphology import cli as morphology

    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    detector.add_evaluate_arguments(models.add_parser("detector", help="the microcalcification detector"))
    morphology.add_evaluate_arguments(models.add_parser("morphology", help="the cluster morphology model"))
    detector.add_observer_arguments(models.add_parser(
        "observer", help="what phantom views hold about their suspicious clusters (a prewhitened matched filter)"))


def run(args: argparse.Namespace, config: object) -> int:
    from .detector import cli as detector
    from .morphology import cli as morphology

    if args.model == "observer":
        return detector.observer_command(args)
    return (morphology if args.model == "morphology" else detector).evaluate_command(args, config)
