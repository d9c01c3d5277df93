"""``mammoedge serve``: run the appliance service until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal

from ..config import Config
from ..service.runner import Role, Service

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.ALL.value,
                        help="intake: receiver + hot folder + assembler; worker: analysis; all: both (default)")


def run(args: argparse.Namespace, config: Config) -> int:
    service = Service(config, role=Role(args.role))
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    service.start()
    log.info("mammoedge serve running (role %s)", args.role)
    service.run_until_stopped()
    return 0
