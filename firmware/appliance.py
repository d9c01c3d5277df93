"""The update manager as the appliance runs it, built from the configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mammoedge.runtime.config import Config

from .errors import Rule
from .fetch import RepositorySource
from .install import Installer
from .machine import Policy, SlotCommand, UpdateManager, slot_command


def health_command(config_file: str | None, timeout_s: float) -> SlotCommand:
    """The new slot's own ``mammoedge update health-check`` against the slot's models and migrated configuration."""
    argv = ["{slot}/venv/bin/mammoedge"] + (["--config", "{slot}/config.toml"] if config_file else [])
    return slot_command([*argv, "update", "health-check", "--models", "{slot}/models"], timeout_s, Rule.HEALTH)


def manager(config: Config, config_file: str | None) -> UpdateManager:
    u = config.update
    return UpdateManager(
        u.root, start=slot_command(u.start_command, u.start_timeout_s, Rule.START),
        health=health_command(config_file, u.health_timeout_s),
        installer=Installer(base_site=u.base_site),
        policy=Policy(max_trial_starts=u.max_trial_starts, crash_loop_starts=u.crash_loop_starts,
                      crash_loop_window_s=u.crash_loop_window_s, max_bundle_bytes=int(u.max_bundle_mb * 2**20)),
        config_file=Path(config_file) if config_file else None)


def source(config: Config, repository: str | None) -> RepositorySource:
    """The repository named on the command line, else the configured one."""
    from .errors import UpdateError

    where = repository or config.update.repository
    if not where:
        raise UpdateError(Rule.UNREACHABLE, "no update repository: set update.repository or name one")
    return RepositorySource(where, cache_dir=Path(config.update.root) / "tuf", trusted_root=config.update.trusted_root,
                            max_bundle_bytes=int(config.update.max_bundle_mb * 2**20))


def in_window(window: str, now: dt.time) -> bool:
    """Whether ``now`` is inside ``HH:MM-HH:MM`` (a window may cross midnight)."""
    start_text, end_text = window.split("-")
    start, end = dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text)
    return start <= now < end if start <= end else now >= start or now < end
