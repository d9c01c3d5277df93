"""Which OpenVINO device string to compile for, built only from devices that are present."""

from __future__ import annotations

from collections.abc import Sequence


def device_type(name: str) -> str:
    """"GPU.1" -> "GPU"."""
    return name.split(".", 1)[0].upper()


def is_present(device: str, available: Sequence[str]) -> bool:
    """Whether a concrete device (CPU, GPU, GPU.0, NPU) is among ``available``."""
    wanted = device.upper()
    return any(a.upper() == wanted or device_type(a) == wanted for a in available)


def auto_device(priority: Sequence[str], available: Sequence[str]) -> str:
    """``AUTO:<present devices in priority order>``; never names an absent device.

    Passing an absent GPU to AUTO fails outright on boxes without libOpenCL
    (FIELD-NOTES), so the list is filtered here. Present devices missing from
    ``priority`` are left out on purpose: the priority list is the site's choice.
    """
    present = [d.upper() for d in priority if is_present(d, available)]
    if not present:
        present = [device_type(a) for a in available]
    if not present:
        return ""
    return "AUTO:" + ",".join(dict.fromkeys(present))
