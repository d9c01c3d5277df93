"""``mammoedge update``: status, check, apply, rollback, mark-good; boot and health for the systemd units."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from ..config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = sub.add_parser("status", help="the update state, slots and last outcome")
    status.add_argument("--json", action="store_true", help="print as JSON")
    check = sub.add_parser("check", help="the newest bundle the repository signs (no download)")
    check.add_argument("repository", nargs="?", help="URL or directory (default: update.repository)")
    apply = sub.add_parser("apply", help="download, verify, install into the other slot, start, check, commit")
    apply.add_argument("repository", nargs="?", help="URL or directory of the repository (an offline copy "
                                                     "holding the bundle; default: update.repository)")
    apply.add_argument("--in-window", action="store_true", help="do nothing outside update.window (the timer)")
    sub.add_parser("rollback", help="go back to the last good slot (or the previous good one)")
    sub.add_parser("mark-good", help="commit the slot on trial without its health check")
    boot = sub.add_parser("boot", help="resolve an interrupted update; count the start (ExecStartPre)")
    boot.add_argument("--no-count", action="store_true", help="resolve only (the boot unit), do not count a start")
    sub.add_parser("health", help="health-check the slot on trial: commit or roll back (health unit)")
    provision = sub.add_parser("provision", help="first install of an empty box from a repository")
    provision.add_argument("repository", nargs="?")
    seed = sub.add_parser("seed", help="first install by install.sh: record slot a (its venv runs this command)")
    seed.add_argument("--wheelhouse", type=Path, required=True, help="the wheels slot a's venv was installed from")
    seed.add_argument("--models", type=Path, help="models for slot a (default: the ones shipped in the package)")
    hc = sub.add_parser("health-check", help="run the health checks in this slot (used by 'health')")
    hc.add_argument("--models", type=Path, help="models directory to check (default: the configured one)")
    hc.add_argument("--json", action="store_true")


def _status(config: Config) -> dict[str, Any]:
    from mammoedge.firmware.slots import Link, Slot, SlotStore
    from mammoedge.firmware.state import StateFile

    root = Path(config.update.root)
    record = StateFile(root / "update-state.json").load()
    store = SlotStore(root)
    slots: dict[str, Any] = {}
    for slot in Slot:
        info = store.info(slot) if root.is_dir() else None
        slots[slot.value] = None if info is None else {"version": info.version, "software": info.software_version,
                                                       "kind": info.kind}
    data = record.as_dict()
    data.pop("starts", None)
    targets = {link: store.link(link) for link in Link}
    links = {link.value: (slot.value if slot is not None else None) for link, slot in targets.items()}
    return {"update": data, "slots": slots, "links": links}


def run(args: argparse.Namespace, config: Config) -> int:
    from mammoedge.firmware import appliance

    action = args.action
    if action == "status":
        status = _status(config)
        if args.json:
            print(json.dumps(status, indent=1, sort_keys=True))
        else:
            u = status["update"]
            print(f"state: {u['state']} (last outcome {u['last_outcome']}"
                  + (f", rule {u['last_rule']}" if u["last_rule"] else "") + ")")
            for name, slot in status["slots"].items():
                mark = " ".join(k for k, v in status["links"].items() if v == name)
                print(f"slot {name}: " + ("empty" if slot is None else f"{slot['version']} ({slot['kind']})")
                      + (f" [{mark}]" if mark else ""))
        return 0
    if action == "health-check":
        from mammoedge.firmware.health import run_health_check

        models = args.models or config.inference.models_dir
        if models is None:
            from ..inference import shipped_models_dir

            models = shipped_models_dir()
        report = run_health_check(config, models_dir=models)
        if args.json:
            print(json.dumps(report.as_dict(), indent=1))
        else:
            for r in report.results:
                state = "skip" if r.skipped else "pass" if r.passed else "FAIL"
                print(f"{r.check.value:8s} {state}  {r.detail}")
        return 0 if report.passed else 1
    if action == "check":
        target = appliance.source(config, args.repository).check()
        installed = appliance.manager(config, args.config).installed()
        print(f"newest signed bundle: {target.version} ({target.kind}, {target.length} bytes); installed: "
              f"{installed.version if installed else 'none'}")
        return 0
    if action == "apply" and args.in_window and not appliance.in_window(config.update.window, dt.datetime.now().time()):
        print(f"outside the update window {config.update.window}: nothing done")
        return 0
    manager = appliance.manager(config, args.config)
    # boot runs in the services' ExecStartPre while 'apply' restarts them: it must not wait for apply's lock
    with manager.locked(wait=action != "boot") as held:
        if not held:
            print("an update process holds the lock: nothing to resolve")
            return 0
        return _act(manager, action, args, config)


def _act(manager: Any, action: str, args: argparse.Namespace, config: Config) -> int:
    from mammoedge.firmware import appliance
    from mammoedge.firmware.state import TRIAL, Outcome, UpdateState

    was_on_trial = manager.status().state in TRIAL
    if action == "apply":
        record = manager.apply(appliance.source(config, args.repository))
    elif action == "provision":
        record = manager.provision(appliance.source(config, args.repository))
    elif action == "seed":
        from .. import __version__
        from ..inference import shipped_models_dir

        record = manager.seed(wheelhouse=args.wheelhouse, models=args.models or shipped_models_dir(),
                              version=__version__, requirements=[f"mammoedge=={__version__}"],
                              running_prefix=Path(sys.prefix))
    elif action == "rollback":
        record = manager.rollback()
    elif action == "mark-good":
        record = manager.mark_good()
    elif action == "boot":
        record = manager.boot(count_start=not args.no_count)
    else:
        record = manager.finish_trial()
    print(f"state: {record.state.value} (last outcome {record.last_outcome.value}"
          + (f", rule {record.last_rule}" if record.last_rule else "") + ")")
    if record.last_message and record.state is UpdateState.FAILED:
        print(record.last_message, file=sys.stderr)
    if action == "health":
        return 1 if was_on_trial and record.last_outcome is not Outcome.COMMITTED else 0
    return 1 if action == "apply" and record.last_outcome is not Outcome.COMMITTED else 0
