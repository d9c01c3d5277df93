"""Resolve the configured analyzer ``"module:function"`` into a callable."""

from __future__ import annotations

import functools
import importlib
import inspect
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import ConfigError

Analyzer = Callable[[list[Path], list[str]], dict]


def load_analyzer(spec: str, config: Config) -> Analyzer:
    """Import ``spec`` ("package.module:function"); pass ``config=`` when the function takes it."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"service.analyzer {spec!r} is not 'module:function'")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"service.analyzer {spec!r} cannot be imported: {exc}") from None
    if not callable(func):
        raise ConfigError(f"service.analyzer {spec!r} is not callable")
    try:
        takes_config = "config" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        takes_config = False
    return functools.partial(func, config=config) if takes_config else func
