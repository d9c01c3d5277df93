"""Configuration migrations carried by a bundle (``migrations/*.toml``), applied to a copy of the site config.

A migration file::

    since = "2.0.0"                      # the bundle version that needs it
    remove = ["service.old_option"]      # options the new software no longer knows
    [rename]
    "analysis.old_name" = "analysis.new_name"

Migrations with ``installed < since <= bundle version`` run in ``since`` order. The result is the slot's
``config.toml``; it replaces the site configuration only when the slot is committed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle import parse_version
from .errors import BundleError, Rule


@dataclass(frozen=True, kw_only=True)
class Migration:
    name: str
    since: str
    rename: dict[str, str]
    remove: tuple[str, ...]


def _key(dotted: str, where: str) -> tuple[str, str]:
    section, _, option = dotted.partition(".")
    if not section or not option or "." in option:
        raise BundleError(Rule.INVALID_MANIFEST, f"migration {where}: {dotted!r} is not 'section.option'")
    return section, option


def load_migrations(folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(Rule.INVALID_MANIFEST, f"migration {path.name} is not TOML: {exc}") from None
        since, rename, remove = data.get("since"), data.get("rename", {}), data.get("remove", [])
        if not isinstance(since, str) or not isinstance(rename, dict) or not isinstance(remove, list):
            raise BundleError(Rule.INVALID_MANIFEST, f"migration {path.name}: needs since = \"X.Y.Z\", "
                                                     f"[rename] and remove = [...]")
        parse_version(since)
        for dotted in [*rename, *rename.values(), *remove]:
            _key(str(dotted), path.name)
        migrations.append(Migration(name=path.name, since=since, rename={str(k): str(v) for k, v in rename.items()},
                                    remove=tuple(str(r) for r in remove)))
    return sorted(migrations, key=lambda m: parse_version(m.since))


def migrate(table: dict[str, Any], migrations: list[Migration], *, installed: str, target: str) -> dict[str, Any]:
    """``table`` (a parsed configuration) with the migrations between the two versions applied."""
    result = {section: dict(options) if isinstance(options, dict) else options for section, options in table.items()}
    low, high = parse_version(installed), parse_version(target)
    for migration in migrations:
        if not low < parse_version(migration.since) <= high:
            continue
        for old, new in migration.rename.items():
            (s_old, o_old), (s_new, o_new) = _key(old, migration.name), _key(new, migration.name)
            if o_old in result.get(s_old, {}):
                result.setdefault(s_new, {})[o_new] = result[s_old].pop(o_old)
        for dotted in migration.remove:
            section, option = _key(dotted, migration.name)
            result.get(section, {}).pop(option, None)
    return result


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def dump_toml(table: dict[str, Any]) -> str:
    """A configuration table (sections of scalars and lists, the schema's only shapes) as TOML."""
    lines = [f"{k} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for section, options in table.items():
        if isinstance(options, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {_value(v)}" for k, v in options.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
