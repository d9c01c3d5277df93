"""``mammoedge export MODEL ...``: ONNX FP32 + INT8 and the manifest (detector, morphology, risk)."""

from __future__ import annotations

import argparse
from typing import Any

from .lab import Step, add_step_arguments, run_step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_step_arguments(parser, Step.EXPORT)


def run(args: argparse.Namespace, config: Any) -> int:
    return run_step(args, Step.EXPORT, config)
