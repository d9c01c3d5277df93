"""``mammoedge web``: serve the technologist's page (worklist, exam, biopsy and box views; docs/web.md)."""

from __future__ import annotations

import argparse

from ..config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="override [web] port")
    parser.add_argument("--bind", help="override [web] bind_address")


def run(args: argparse.Namespace, config: Config) -> int:
    import dataclasses

    from ..web import serve

    web = config.web
    overrides = {k: v for k, v in (("port", args.port), ("bind_address", args.bind)) if v is not None}
    serve(dataclasses.replace(config, web=dataclasses.replace(web, **overrides)) if overrides else config)
    return 0
