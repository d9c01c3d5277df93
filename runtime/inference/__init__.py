"""Inference: the model registry (sha256-verified manifest entries) and the engine (OpenVINO, onnxruntime)."""

from .compiled import CompiledModel
from .contract import TensorInfo, check_contract
from .devices import auto_device
from .engine import Engine, inventory
from .manifest import InputSpec, ModelEntry, OutputSpec, read_manifest
from .registry import ModelRegistry, VerifiedModel, shipped_models_dir, verify

__all__ = [
    "CompiledModel", "Engine", "InputSpec", "ModelEntry", "ModelRegistry", "OutputSpec", "TensorInfo",
    "VerifiedModel", "auto_device", "check_contract", "inventory", "read_manifest", "shipped_models_dir", "verify",
]
