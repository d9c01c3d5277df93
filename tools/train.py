"""``mammoedge train MODEL ...``: train a model on phantom data (detector, morphology, risk)."""

from __future__ import annotations

import argparse
from typing import Any

from .lab import Step, add_step_arguments, run_step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_step_arguments(parser, Step.TRAIN)


def run(args: argparse.Namespace, config: Any) -> int:
    return run_step(args, Step.TRAIN, config)
