"""``mammoedge device``: device identity (key pair + CSR), hardware, OpenVINO devices and the engine's choice."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.add_argument("--key-type", choices=("ec-p256", "ed25519"), default="ec-p256",
                        help="algorithm of a key pair created on first use (default ec-p256)")


def run(args: argparse.Namespace, config: Config) -> int:
    from mammoedge.firmware.identity import KeyType, ensure_identity
    from mammoedge.firmware.probe import engine_choice, hardware, openvino_devices

    from ..telemetry.topics import device_id as telemetry_device_id

    device_id = telemetry_device_id(config.telemetry)
    identity = ensure_identity(config.service.state_dir / "identity", device_id=device_id,
                               site=config.telemetry.site, key_type=KeyType(args.key_type))
    ov = openvino_devices()
    report: dict[str, Any] = {
        "identity": {"device_id": device_id, "subject": identity.subject, "key_type": identity.key_type.value,
                     "public_key": identity.fingerprint, "key_file": str(identity.key_file),
                     "csr_file": str(identity.csr_file)},
        "hardware": hardware(), "openvino": ov,
        "engine": engine_choice(config.inference, list(ov.get("devices", {}))),
    }
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return 0
    i, h, e = report["identity"], report["hardware"], report["engine"]
    print(f"device {i['device_id']}: {i['key_type']} key {i['public_key']} (CSR {i['csr_file']})")
    print(f"hardware: {h['machine']} {h['cpu']}, {h['cores']} cores, {h['memory_mb']} MB, "
          f"flags {' '.join(h['cpu_flags']) or 'none'}")
    for name, dev in ov.get("devices", {}).items():
        print(f"openvino {name}: {dev.get('name', '?')} ({dev.get('plugin_version', '?')})")
    print(f"engine: {e['backend']} on {e['device']}: {e['why']}")
    return 0
