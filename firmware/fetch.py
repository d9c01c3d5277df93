"""Fetch a bundle through the update repository's TUF metadata (python-tuf's ``ngclient``).

The box trusts one ``root.json`` (installed with it); ngclient refreshes root, timestamp,
snapshot and targets from the repository, checks signatures against thresholds, expiry and
version numbers, and downloads the bundle checking its length and sha256. Each refusal becomes
a :class:`VerificationError` naming the TUF rule it broke.

The repository is a URL (``http://``, ``https://``) or a local directory (an offline copy, e.g.
on a USB stick): ``<repo>/metadata/`` and ``<repo>/targets/``.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from .bundle import parse_version
from .errors import Rule, VerificationError

log = logging.getLogger(__name__)

BUNDLE_PREFIX = "bundles/"
_SIGNED_BY = re.compile(r"signed by (\d+)/(\d+) keys")


class FileFetcher(FetcherInterface):
    """ngclient fetcher for ``file://`` URLs (an offline repository directory)."""

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = Path(unquote(urlparse(url).path))
        if not path.is_file():
            raise tuf_errors.DownloadHTTPError(f"{path.name} is not in the repository", 404)
        return self._chunks(path)

    @staticmethod
    def _chunks(path: Path) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            yield from iter(lambda: fh.read(1 << 16), b"")


def translate(exc: Exception, *, target: bool = False) -> VerificationError:
    """The TUF rule behind an ngclient exception."""
    text = str(exc)
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        match = _SIGNED_BY.search(text)
        if match and int(match.group(1)) == 0:
            return VerificationError(Rule.UNTRUSTED_KEY, f"metadata is not signed by any trusted key: {text}")
        return VerificationError(Rule.BELOW_THRESHOLD, f"metadata has too few valid signatures: {text}")
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        if "timestamp" in text:
            return VerificationError(Rule.FREEZE, f"the repository's timestamp is stale (frozen feed): {text}")
        return VerificationError(Rule.EXPIRED, f"metadata has expired: {text}")
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        if re.search(r"Expected (\S+) v\d+, got v\d+|Expected snapshot version", text):
            return VerificationError(Rule.MIX_AND_MATCH, f"metadata versions do not match the snapshot: {text}")
        return VerificationError(Rule.METADATA_ROLLBACK, f"metadata is older than what this box has seen: {text}")
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        if target:
            return VerificationError(Rule.TAMPERED_PAYLOAD, f"the bundle does not match its signed hash: {text}")
        return VerificationError(Rule.MIX_AND_MATCH, f"metadata does not match the snapshot's hash: {text}")
    if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
        return VerificationError(Rule.OVERSIZED, f"download is longer than its signed length: {text}")
    if isinstance(exc, tuf_errors.DownloadError):
        return VerificationError(Rule.UNREACHABLE, f"repository cannot be read: {type(exc).__name__}: {text}")
    return VerificationError(Rule.INVALID_METADATA, f"repository metadata is refused: {type(exc).__name__}: {text}")


@dataclass(frozen=True, kw_only=True)
class BundleTarget:
    """A bundle the signed targets metadata lists."""

    path: str
    version: str
    kind: str
    length: int
    sha256: str


def _bundle_target(info: TargetFile) -> BundleTarget | None:
    """The bundle a signed target describes (None: not a bundle target)."""
    custom = info.custom if isinstance(info.custom, dict) else {}
    if not info.path.startswith(BUNDLE_PREFIX) or not isinstance(custom.get("version"), str):
        return None
    return BundleTarget(path=info.path, version=custom["version"], kind=str(custom.get("kind", "full")),
                        length=info.length, sha256=info.hashes.get("sha256", ""))


class RepositorySource:
    """A TUF update repository: the newest bundle it signs, downloaded and verified."""

    def __init__(self, repository: str, *, cache_dir: Path, trusted_root: Path, max_bundle_bytes: int,
                 config: UpdaterConfig | None = None) -> None:
        self.repository = repository
        self.cache_dir = cache_dir
        self.trusted_root = trusted_root
        self.max_bundle_bytes = max_bundle_bytes
        self.config = config or UpdaterConfig(prefix_targets_with_hash=False)
        parsed = urlparse(repository)
        if parsed.scheme in ("http", "https"):
            self.base, self.fetcher = repository.rstrip("/"), None
        else:
            local = Path(parsed.path if parsed.scheme == "file" else repository).resolve()
            self.base, self.fetcher = local.as_uri(), FileFetcher()

    def _updater(self) -> Updater:
        metadata = self.cache_dir / "metadata"
        metadata.mkdir(parents=True, exist_ok=True)
        if not (metadata / "root.json").exists():
            try:
                shutil.copyfile(self.trusted_root, metadata / "root.json")
            except OSError as exc:
                raise VerificationError(Rule.INVALID_METADATA, f"trusted root {self.trusted_root} cannot be read: "
                                                               f"{exc.strerror}") from None
        try:
            return Updater(metadata_dir=str(metadata), metadata_base_url=f"{self.base}/metadata/",
                           target_base_url=f"{self.base}/targets/", fetcher=self.fetcher, config=self.config,
                           bootstrap=None)
        except (tuf_errors.RepositoryError, ValueError) as exc:
            raise translate(exc) from None

    def latest(self) -> tuple[Updater, TargetFile, BundleTarget]:
        """Refresh the metadata and pick the highest-versioned bundle target.

        ngclient has no public "list targets": after ``refresh()`` the top-level targets metadata it
        verified is the ``targets.json`` it keeps in its metadata directory (read with the Metadata
        API); the chosen path is then looked up again with ``Updater.get_targetinfo``, whose answer
        (length, hashes, custom fields) is the one used.
        """
        updater = self._updater()
        try:
            updater.refresh()
            verified = Metadata[Targets].from_file(str(self.cache_dir / "metadata" / "targets.json"))
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise translate(exc) from None
        except (OSError, ValueError) as exc:
            raise VerificationError(Rule.INVALID_METADATA, f"verified targets metadata cannot be read: "
                                                           f"{type(exc).__name__}") from None
        bundles = [b for b in map(_bundle_target, verified.signed.targets.values()) if b is not None]
        if not bundles:
            raise VerificationError(Rule.NO_UPDATE, "the repository's signed targets list no bundle")
        best = max(bundles, key=lambda b: parse_version(b.version))
        try:
            info = updater.get_targetinfo(best.path)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise translate(exc) from None
        chosen = None if info is None else _bundle_target(info)
        if info is None or chosen is None:
            raise VerificationError(Rule.NO_UPDATE, f"bundle {best.version} is not in the verified targets")
        return updater, info, chosen

    def check(self) -> BundleTarget:
        """The newest signed bundle, without downloading it."""
        return self.latest()[2]

    def newest_version(self) -> str:
        return self.check().version

    def fetch(self, dest: Path) -> Path:
        updater, info, bundle = self.latest()
        if info.length > self.max_bundle_bytes:
            raise VerificationError(Rule.OVERSIZED, f"bundle {bundle.version} is {info.length} bytes; the limit is "
                                                    f"{self.max_bundle_bytes}")
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / Path(info.path).name
        try:
            updater.download_target(info, filepath=str(path))
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            path.unlink(missing_ok=True)
            raise translate(exc, target=True) from None
        log.info("bundle %s downloaded and verified (%d bytes)", bundle.version, info.length)
        return path
