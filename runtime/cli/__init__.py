"""The ``mammoedge`` console command.

Each subcommand lives in its own module, which defines ``add_arguments(parser)`` and ``run(args, config) -> int``
(the exit code). Modules are imported only when their subcommand runs, so ``mammoedge inspect`` never pays for
OpenVINO. Lab commands that need the lab extra (PyTorch, ONNX, matplotlib) are listed only when it is installed.
Exit codes: 0 done, 1 an input or run-time error, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from dataclasses import dataclass

from .. import __version__
from ..config import Config, dump_config, load_config
from ..errors import ConfigError, MammoedgeError


@dataclass(frozen=True)
class Command:
    module: str
    help: str
    #: modules of the lab extra the command needs
    needs: tuple[str, ...] = ()
    #: the extra that brings them
    extra: str = "lab"

    def missing(self) -> list[str]:
        return [name for name in self.needs if importlib.util.find_spec(name) is None]


COMMANDS: dict[str, Command] = {
    "config": Command("mammoedge.runtime.cli", "print the effective configuration as documented TOML"),
    "analyze": Command("mammoedge.runtime.cli.analyze", "triage exams: detect and describe calcification clusters"),
    "biopsy": Command("mammoedge.runtime.cli.biopsy", "the 3-D target of a cluster from a stereotactic set (+/-15 deg)"),
    "inspect": Command("mammoedge.runtime.cli.inspect", "say what the reader decides about DICOM files"),
    "serve": Command("mammoedge.runtime.cli.serve", "run the appliance service: DICOM receiver, queue, workers"),
    "status": Command("mammoedge.runtime.cli.status", "show queue depth, last exam, errors and versions"),
    "web": Command("mammoedge.runtime.cli.web", "serve the technologist's page: worklist, exam, biopsy and box views"),
    "user": Command("mammoedge.runtime.cli.user", "the page's local accounts: add, passwd, list, lock"),
    "demo": Command("mammoedge.tools.demo", "make a phantom exam on the spot and run the main job on it"),
    "bench": Command("mammoedge.tools.bench", "time each stage of the main job on realistic phantom exams"),
    "phantom": Command("mammoedge.tools.phantom.cli", "write synthetic mammography exams with ground truth"),
    "fleet": Command("mammoedge.tools.fleet.cli", "watch the fleet's devices on the broker, or simulate many"),
    "train": Command("mammoedge.tools.train", "train a model on phantom data (lab)", needs=("torch",)),
    "export": Command("mammoedge.tools.export", "export a trained model to ONNX FP32 + INT8 and the manifest (lab)",
                      needs=("torch", "onnx")),
    "evaluate": Command("mammoedge.tools.evaluate", "evaluate models on held-out phantom data (lab)",
                        needs=("matplotlib",)),
    "update": Command("mammoedge.runtime.cli.update",
                      "signed updates into A/B slots: status, check, apply, rollback, mark-good"),
    "device": Command("mammoedge.runtime.cli.device",
                      "device identity (key pair, CSR), hardware and inference devices"),
    "bundle": Command("mammoedge.tools.bundle.cli", "build an update bundle and publish it to a TUF repository (lab)"),
    "batch": Command("mammoedge.tools.batch.cli", "re-analyze an archive folder tree on Ray, results as JSON and "
                     "Parquet (cluster extra)", needs=("ray", "pyarrow"), extra="cluster"),
}

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mammoedge config`` (none)."""


def run(args: argparse.Namespace, config: Config) -> int:
    """``mammoedge config``: print the configuration in force."""
    print(dump_config(config))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mammoedge", description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mammoedge {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file (default: built-in defaults)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        if command.missing():  # a lab command without the lab extra: reachable, not listed
            sub.add_parser(name, description=command.help)
        else:
            sub.add_parser(name, help=command.help, description=command.help)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Find the subcommand without acting on -h, so the chosen module can add its options first.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("-v", "--verbose", action="count", default=0)
    pre.add_argument("command", nargs="?")
    known, _ = pre.parse_known_args(argv)
    if known.command not in COMMANDS:
        parser.parse_args(argv)  # prints help, version or the usage error
        parser.print_help()
        return 2
    command = COMMANDS[known.command]
    missing = command.missing()
    if missing:
        print(f"mammoedge {known.command}: needs the {command.extra} extra ({', '.join(missing)} not installed): "
              f"pip install 'mammoedge[{command.extra}]'", file=sys.stderr)
        return 2
    module = importlib.import_module(command.module)
    sub_parsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    module.add_arguments(sub_parsers.choices[known.command])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        return int(module.run(args, config) or 0)
    except ConfigError as exc:
        print(f"mammoedge {known.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except MammoedgeError as exc:
        print(f"mammoedge {known.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
