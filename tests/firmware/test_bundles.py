"""Bundle rules on the box: payload hashes, downgrade, min-from-version, compatibility; models-only updates."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from firmware_helpers import Lab, fake_manager, repo_with, source_for, start_current
from mammoedge.firmware.bundle import BundleKind, BundleManifest, HostInfo, open_bundle
from mammoedge.firmware.errors import BundleError, Rule
from mammoedge.firmware.slots import Link, SlotStore
from mammoedge.firmware.state import Outcome, UpdateState
from mammoedge.tools.bundle.build import publish
from mammoedge.tools.bundle.repository import Repository


def _apply(box: Path, lab: Lab, tmp_path: Path, name: str, version: str, kind: BundleKind = BundleKind.FULL):
    repo = repo_with(lab, tmp_path / f"repo-{name}", name, version=version, kind=kind)
    return fake_manager(box).apply(source_for(box, repo.repo_dir))


def test_manifest_round_trip(lab: Lab, tmp_path: Path) -> None:
    manifest = open_bundle(lab.bundles["v2"], tmp_path / "x", max_bytes=1 << 30)
    assert BundleManifest.from_dict(json.loads(json.dumps(manifest.as_dict()))) == manifest
    assert manifest.version == "2.0.0" and manifest.kind is BundleKind.FULL
    assert any(n.startswith("wheelhouse/fakeapp-2.0.0") for n in manifest.files)


def test_payload_that_differs_from_its_manifest_is_refused(lab: Lab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(lab.bundles["v2"]) as src, tarfile.open(bad, "w:") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("models/"):
                data = b"a different model"
                member.size = len(data)
            import io
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BundleError) as caught:
        open_bundle(bad, tmp_path / "x", max_bytes=1 << 30)
    assert caught.value.rule is Rule.PAYLOAD_HASH and "models/model.bin" in str(caught.value)


def test_older_bundle_is_refused(box: Path, lab: Lab, tmp_path: Path) -> None:
    assert _apply(box, lab, tmp_path, "v2", "2.0.0").state is UpdateState.COMMITTED
    old = tmp_path / "repo-old"
    repo = repo_with(lab, old, "v2", version="2.0.0")
    lab.bundle("v1b", "1.5.0")
    publish(repo, lab.bundles["v1b"], version="3.0.0", kind=BundleKind.FULL)  # signed as newest, is older inside
    record = fake_manager(box).apply(source_for(box, repo.repo_dir))
    assert record.last_outcome is Outcome.REFUSED and record.last_rule == Rule.DOWNGRADE.value
    store = SlotStore(box)
    assert start_current(box) == "2.0.0" and store.info(store.link(Link.GOOD).other()).version == "1.0.0"


def test_min_from_version(box: Path, lab: Lab, tmp_path: Path) -> None:
    lab.bundle("v3-min", "3.0.0", min_from="2.0.0")
    record = _apply(box, lab, tmp_path, "v3-min", "3.0.0")
    assert record.last_outcome is Outcome.REFUSED and record.last_rule == Rule.MIN_FROM_VERSION.value
    assert "updates from 2.0.0" in str(record.last_message) and start_current(box) == "1.0.0"


def test_incompatible_host(lab: Lab, tmp_path: Path) -> None:
    manifest = open_bundle(lab.bundles["v2"], tmp_path / "x", max_bytes=1 << 30)
    with pytest.raises(BundleError) as caught:
        manifest.check_compatible(HostInfo(machine="aarch64", os="debian:12", python="3.11"))
    assert caught.value.rule is Rule.INCOMPATIBLE and "aarch64" in str(caught.value)


def test_bundle_larger_than_the_limit_is_refused(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(BundleError) as caught:
        open_bundle(lab.bundles["v2"], tmp_path / "x", max_bytes=100)
    assert caught.value.rule is Rule.OVERSIZED


def test_models_only_update_keeps_the_software(box: Path, lab: Lab, tmp_path: Path) -> None:
    lab.bundle("models-2", "1.1.0", kind=BundleKind.MODELS, model=b"retrained model")
    record = _apply(box, lab, tmp_path, "models-2", "1.1.0", BundleKind.MODELS)
    assert record.state is UpdateState.COMMITTED
    store = SlotStore(box)
    info = store.verify(store.link(Link.GOOD))
    assert info.version == "1.1.0" and info.kind == "models" and info.software_version == "1.0.0"
    assert (box / "current" / "models" / "model.bin").read_bytes() == b"retrained model"
    assert start_current(box) == "1.0.0"  # the software is the one the models-only bundle kept


def test_tampered_slot_is_detected(box: Path) -> None:
    store = SlotStore(box)
    (box / "current" / "models" / "model.bin").write_bytes(b"changed on disk")
    with pytest.raises(Exception) as caught:
        store.verify(store.link(Link.CURRENT))
    assert getattr(caught.value, "rule", None) is Rule.PAYLOAD_HASH


def test_repository_keys_are_private(lab: Lab) -> None:
    keys = sorted(lab.repo.keys_dir.glob("*.pem"))
    assert len(keys) == 7 and all(p.stat().st_mode & 0o777 == 0o600 for p in keys)
    assert isinstance(Repository(lab.repo.repo_dir, lab.repo.keys_dir).load("root").signed.version, int)


def test_refused_metadata_is_recorded_and_touches_no_slot(box: Path, lab: Lab, tmp_path: Path) -> None:
    repo = repo_with(lab, tmp_path / "repo", "v2")
    timestamp = repo.load("timestamp")
    repo.bump(timestamp)
    from datetime import UTC, datetime
    timestamp.signed.expires = datetime(2020, 1, 1, tzinfo=UTC)  # a frozen feed
    repo.write(timestamp)
    record = fake_manager(box).apply(source_for(box, repo.repo_dir))
    assert record.state is UpdateState.FAILED and record.last_outcome is Outcome.REFUSED
    assert record.last_rule == Rule.FREEZE.value and "rule: freeze" in str(record.last_message)
    store = SlotStore(box)
    assert store.link(Link.CURRENT).value == "a" and store.info(store.link(Link.GOOD).other()) is None
    assert start_current(box) == "1.0.0"


MIGRATION = '''since = "2.0.0"
remove = ["service.gone"]
[rename]
"telemetry.old_option" = "telemetry.new_option"
'''


def test_config_migrations_apply_at_commit_and_revert_with_a_rollback(lab: Lab, tmp_path: Path) -> None:
    import os
    import tomllib

    site = tmp_path / "etc" / "mammoedge.toml"
    site.parent.mkdir()
    site.write_text('[service]\nport = 104\ngone = 1\n\n[telemetry]\nold_option = "kept value"\n')
    os.chmod(site, 0o640)
    root = tmp_path / "box"
    fake_manager(root, config_file=site).provision(source_for(root, lab.repo.repo_dir))
    lab.bundle("v2-migrating", "2.0.0", migrations={"0001-rename.toml": MIGRATION})
    repo = repo_with(lab, tmp_path / "repo", "v2-migrating")
    manager = fake_manager(root, config_file=site)
    assert manager.apply(source_for(root, repo.repo_dir)).state is UpdateState.COMMITTED
    migrated = tomllib.loads(site.read_text())
    assert migrated == {"service": {"port": 104}, "telemetry": {"new_option": "kept value"}}
    assert site.stat().st_mode & 0o777 == 0o640
    record = manager.rollback()  # back to 1.0.0: its configuration comes back with it
    assert record.good_slot == "a" and tomllib.loads(site.read_text())["service"] == {"port": 104, "gone": 1}


def test_invalid_migration_is_refused(lab: Lab, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[service]\nport = 104\n")
    root = tmp_path / "box"
    fake_manager(root, config_file=site).provision(source_for(root, lab.repo.repo_dir))
    lab.bundle("v2-badmig", "2.0.0", migrations={"0001.toml": 'since = "2.0.0"\n[rename]\n"nodot" = "x.y"\n'})
    repo = repo_with(lab, tmp_path / "repo", "v2-badmig")
    record = fake_manager(root, config_file=site).apply(source_for(root, repo.repo_dir))
    assert record.last_outcome is Outcome.REFUSED and record.last_rule == Rule.INVALID_MANIFEST.value
    assert "'nodot' is not 'section.option'" in str(record.last_message)
    assert site.read_text() == "[service]\nport = 104\n"
