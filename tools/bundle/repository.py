"""The update repository's TUF metadata, written with python-tuf's Metadata API.

Layout: ``<repo>/metadata/{N.root.json, root.json, targets.json, snapshot.json, timestamp.json}``
and ``<repo>/targets/bundles/<bundle>.tar``. Keys are ed25519 (securesystemslib's CryptoSigner over
``cryptography``), stored one PEM file per key in the keys folder, mode 0600. In production the
root keys live offline; this lab tool keeps them in one folder for brevity.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

log = logging.getLogger(__name__)

ROLES = ("root", "targets", "snapshot", "timestamp")


@dataclass(frozen=True)
class RoleKeys:
    """How many keys a role has and how many must sign."""

    count: int
    threshold: int


DEFAULT_KEYS = {"root": RoleKeys(3, 2), "targets": RoleKeys(2, 1), "snapshot": RoleKeys(1, 1),
                "timestamp": RoleKeys(1, 1)}
DEFAULT_EXPIRY = {"root": timedelta(days=365), "targets": timedelta(days=90), "snapshot": timedelta(days=7),
                  "timestamp": timedelta(days=1)}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Repository:
    """A TUF repository on disk and the lab's keys for it."""

    def __init__(self, repo_dir: Path, keys_dir: Path, expiry: dict[str, timedelta] | None = None) -> None:
        self.repo_dir = repo_dir
        self.keys_dir = keys_dir
        self.metadata_dir = repo_dir / "metadata"
        self.targets_dir = repo_dir / "targets"
        self.expiry = dict(DEFAULT_EXPIRY, **(expiry or {}))

    # -- keys ------------------------------------------------------------------------------------------------
    def signers(self, role: str) -> list[CryptoSigner]:
        signers = []
        for path in sorted(self.keys_dir.glob(f"{role}-*.pem")):
            key = load_pem_private_key(path.read_bytes(), password=None)
            signers.append(CryptoSigner(key))
        return signers

    def _new_signer(self, role: str, index: int) -> CryptoSigner:
        signer = CryptoSigner.generate_ed25519()
        self.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.keys_dir / f"{role}-{index}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(signer.private_bytes)
        return signer

    # -- metadata --------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, repo_dir: Path, keys_dir: Path, keys: dict[str, RoleKeys] | None = None,
               expiry: dict[str, timedelta] | None = None) -> Repository:
        """A new repository: fresh keys, root v1 and empty targets, snapshot, timestamp."""
        repo = cls(repo_dir, keys_dir, expiry)
        if (repo.metadata_dir / "root.json").exists():
            raise FileExistsError(f"{repo.metadata_dir / 'root.json'} exists already")
        repo.metadata_dir.mkdir(parents=True, exist_ok=True)
        (repo.targets_dir / "bundles").mkdir(parents=True, exist_ok=True)
        keys = dict(DEFAULT_KEYS, **(keys or {}))
        root = Root(expires=_now() + repo.expiry["root"], consistent_snapshot=False)
        for role in ROLES:
            root.roles[role].threshold = keys[role].threshold
            for index in range(keys[role].count):
                root.add_key(repo._new_signer(role, index).public_key, role)
        repo.write(Metadata(root))
        repo.write(Metadata(Targets(expires=_now() + repo.expiry["targets"])))
        repo.write(Metadata(Snapshot(expires=_now() + repo.expiry["snapshot"])))
        repo.write(Metadata(Timestamp(expires=_now() + repo.expiry["timestamp"])))
        return repo

    def load(self, role: str) -> Metadata[Any]:
        return Metadata.from_file(str(self.metadata_dir / f"{role}.json"))

    def write(self, md: Metadata[Any], signers: list[CryptoSigner] | None = None) -> None:
        """Sign ``md`` with its role's keys (or ``signers``) and write it."""
        role = md.signed.type
        md.signatures.clear()
        for signer in signers if signers is not None else self.signers(role):
            md.sign(signer, append=True)
        data = md.to_bytes(JSONSerializer(compact=False))
        names = [f"{role}.json"] + ([f"{md.signed.version}.root.json"] if role == "root" else [])
        for name in names:
            tmp = self.metadata_dir / f".{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, self.metadata_dir / name)

    def bump(self, md: Metadata[Any]) -> None:
        signed: Signed = md.signed
        signed.version += 1
        signed.expires = _now() + self.expiry[signed.type]

    def add_target(self, file: Path, target_path: str, custom: dict[str, Any]) -> TargetFile:
        """Copy ``file`` into targets/, list it in targets (signed), then a new snapshot and timestamp."""
        destination = self.targets_dir / target_path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)
        info = TargetFile.from_file(target_path, str(destination), ["sha256"])
        info.unrecognized_fields["custom"] = custom
        targets = self.load("targets")
        targets.signed.targets[target_path] = info
        self.bump(targets)
        self.write(targets)
        self.publish_snapshot()
        log.info("published %s (%d bytes) as targets v%d", target_path, info.length, targets.signed.version)
        return info

    def publish_snapshot(self) -> None:
        """A snapshot of the current targets version, and a timestamp of that snapshot."""
        targets = self.load("targets")
        snapshot = self.load("snapshot")
        snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
        self.bump(snapshot)
        self.write(snapshot)
        self.refresh_timestamp()

    def refresh_timestamp(self) -> None:
        """A new timestamp (run often: a box refuses a stale one as a freeze attack)."""
        snapshot = self.load("snapshot")
        timestamp = self.load("timestamp")
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
        self.bump(timestamp)
        self.write(timestamp)
