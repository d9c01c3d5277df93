"""Hardware and accelerator probe: CPU, memory, the OpenVINO devices with plugin versions, the engine's choice."""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import Any

from mammoedge.runtime.config import InferenceConfig
from mammoedge.runtime.inference.devices import auto_device, is_present

log = logging.getLogger(__name__)

#: CPU flags that matter for INT8 inference
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


def hardware() -> dict[str, Any]:
    model, flags = "", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    memory_mb = 0
    try:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):
        pass
    return {"machine": platform.machine(), "cpu": model, "cores": os.cpu_count() or 0, "memory_mb": memory_mb,
            "cpu_flags": [f for f in CPU_FLAGS if f in flags], "kernel": platform.release(),
            "accelerator_nodes": sorted(str(p) for d in ("/dev/dri", "/dev/accel") for p in Path(d).glob("*")
                                        if p.name.startswith(("renderD", "accel")))}


def openvino_devices() -> dict[str, Any]:
    """OpenVINO's devices, each with its full name and plugin version (``Core.get_versions``)."""
    try:
        import openvino as ov
    except ImportError as exc:
        return {"error": f"OpenVINO cannot be imported: {exc}", "devices": {}}
    core = ov.Core()
    devices: dict[str, Any] = {}
    for device in core.available_devices:
        entry: dict[str, Any] = {}
        try:
            entry["name"] = str(core.get_property(device, "FULL_DEVICE_NAME"))
        except RuntimeError as exc:
            entry["name_error"] = str(exc)
        try:
            for plugin, version in core.get_versions(device).items():
                entry["plugin"] = plugin
                entry["plugin_version"] = f"{version.description} {version.build_number}"
        except RuntimeError as exc:
            entry["version_error"] = str(exc)
        devices[device] = entry
    return {"version": ov.get_version(), "devices": devices}


def engine_choice(config: InferenceConfig, available: list[str]) -> dict[str, str]:
    """Which device string the engine compiles for, and why (the rules of ``runtime/inference``)."""
    auto = auto_device(config.device_priority, available)
    requested = config.device.strip()
    if config.backend.value == "onnxruntime":
        return {"backend": "onnxruntime", "device": "CPU", "why": "backend = onnxruntime (CPU execution provider)"}
    if not available:
        return {"backend": "onnxruntime", "device": "CPU", "why": "OpenVINO reports no devices: onnxruntime on the CPU"}
    if requested.upper() == "AUTO":
        return {"backend": "openvino", "device": auto,
                "why": f"device = AUTO: priority {', '.join(config.device_priority)} filtered to the present "
                       f"devices ({', '.join(available)})"}
    listed = requested.split(":", 1)[1].split(",") if ":" in requested else [requested]
    absent = [d for d in listed if d and not is_present(d, available)]
    if absent and not config.force:
        return {"backend": "openvino", "device": auto,
                "why": f"{requested} asks for absent {', '.join(absent)}: falls back to {auto}"}
    if absent:
        return {"backend": "none", "device": requested, "why": f"{requested} is absent and force = true: refused"}
    return {"backend": "openvino", "device": requested, "why": f"device = {requested} is present"}
