"""One test per TUF attack class: the box refuses each with the rule named (python-tuf ngclient over HTTP).

The repository is written with python-tuf's Metadata API (tools/bundle/repository.py) and served by
a real HTTP server on 127.0.0.1; the box fetches with tuf.ngclient.Updater.
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from firmware_helpers import Lab
from mammoedge.firmware.bundle import BundleKind
from mammoedge.firmware.errors import Rule, VerificationError
from mammoedge.firmware.fetch import RepositorySource
from mammoedge.tools.bundle.build import publish
from mammoedge.tools.bundle.repository import Repository, RoleKeys
from securesystemslib.signer import CryptoSigner

PAST = datetime(2020, 1, 1, tzinfo=UTC)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (a free port)."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/repo"
    server.shutdown()
    server.server_close()


def _repo(served: tuple[Path, str], lab: Lab, keys: dict[str, RoleKeys] | None = None) -> Repository:
    repo = Repository.create(served[0] / "repo", served[0].parent / "keys", keys=keys)
    publish(repo, lab.bundles["v2"], version="2.0.0", kind=BundleKind.FULL)
    return repo


def _box(served: tuple[Path, str], repo: Repository, tmp_path: Path, max_bytes: int = 64 << 20) -> RepositorySource:
    trusted = tmp_path / "trusted-root.json"
    if not trusted.exists():
        shutil.copyfile(repo.metadata_dir / "1.root.json", trusted)
    return RepositorySource(served[1], cache_dir=tmp_path / "box-cache", trusted_root=trusted,
                            max_bundle_bytes=max_bytes)


def _refused(source: RepositorySource, tmp_path: Path) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        source.fetch(tmp_path / "download")
    assert not any((tmp_path / "download").glob("*.tar")), "a refused bundle must not be left behind"
    return caught.value


def test_a_good_bundle_is_fetched(served, lab, tmp_path):
    repo = _repo(served, lab)
    path = _box(served, repo, tmp_path).fetch(tmp_path / "download")
    assert path.read_bytes() == lab.bundles["v2"].read_bytes()


def test_the_newest_signed_bundle_is_chosen_from_the_verified_targets(served, lab, tmp_path):
    """Listed from the targets.json ngclient verified (Metadata API), taken through Updater.get_targetinfo."""
    import hashlib

    repo = _repo(served, lab)
    publish(repo, lab.bundles["v1"], version="1.0.0", kind=BundleKind.FULL)  # published later, older
    source = _box(served, repo, tmp_path)
    newest = source.check()
    data = lab.bundles["v2"].read_bytes()
    assert (newest.version, newest.length, newest.sha256) == ("2.0.0", len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "box-cache" / "metadata" / "targets.json").is_file()
    assert source.fetch(tmp_path / "download").read_bytes() == data


def test_tampered_payload(served, lab, tmp_path):
    repo = _repo(served, lab)
    target = next((repo.targets_dir / "bundles").glob("*.tar"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte changed
    target.write_bytes(bytes(data))
    error = _refused(_box(served, repo, tmp_path), tmp_path)
    assert error.rule is Rule.TAMPERED_PAYLOAD and "rule: tampered-payload" in str(error)


def test_wrong_key(served, lab, tmp_path):
    repo = _repo(served, lab)
    targets = repo.load("targets")
    repo.bump(targets)
    repo.write(targets, signers=[CryptoSigner.generate_ed25519()])  # an attacker's key
    repo.publish_snapshot()
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.UNTRUSTED_KEY


def test_signatures_below_threshold(served, lab, tmp_path):
    repo = _repo(served, lab, keys={"targets": RoleKeys(2, 2)})
    targets = repo.load("targets")
    repo.bump(targets)
    repo.write(targets, signers=repo.signers("targets")[:1])  # one valid signature of the two required
    repo.publish_snapshot()
    error = _refused(_box(served, repo, tmp_path), tmp_path)
    assert error.rule is Rule.BELOW_THRESHOLD and "1/2" in str(error)


def test_expired_metadata(served, lab, tmp_path):
    repo = _repo(served, lab)
    targets = repo.load("targets")
    repo.bump(targets)
    targets.signed.expires = PAST
    repo.write(targets)
    repo.publish_snapshot()
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.EXPIRED


def test_rollback_to_older_metadata(served, lab, tmp_path):
    repo = _repo(served, lab)
    old_timestamp = (repo.metadata_dir / "timestamp.json").read_bytes()
    repo.refresh_timestamp()
    _box(served, repo, tmp_path).fetch(tmp_path / "first")  # the box has seen the newer timestamp
    (repo.metadata_dir / "timestamp.json").write_bytes(old_timestamp)  # validly signed, unexpired, older
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.METADATA_ROLLBACK


def test_freeze(served, lab, tmp_path):
    repo = _repo(served, lab)
    timestamp = repo.load("timestamp")
    repo.bump(timestamp)
    timestamp.signed.expires = PAST  # the repository (or a mirror) keeps serving a stale timestamp
    repo.write(timestamp)
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.FREEZE


def test_mix_and_match(served, lab, tmp_path):
    repo = _repo(served, lab)
    old_targets = (repo.metadata_dir / "targets.json").read_bytes()
    publish(repo, lab.bundles["v1"], version="1.0.0", kind=BundleKind.FULL)  # targets v3, snapshot says v3
    (repo.metadata_dir / "targets.json").write_bytes(old_targets)  # validly signed v2 beside snapshot of v3
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.MIX_AND_MATCH


def test_oversized_download_endless_data(served, lab, tmp_path):
    repo = _repo(served, lab)
    target = next((repo.targets_dir / "bundles").glob("*.tar"))
    with open(target, "ab") as fh:
        fh.write(b"\0" * 100_000)  # the server sends more than the signed length
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.OVERSIZED


def test_oversized_bundle_refused_before_download(served, lab, tmp_path):
    repo = _repo(served, lab)
    size = lab.bundles["v2"].stat().st_size
    error = _refused(_box(served, repo, tmp_path, max_bytes=size - 1), tmp_path)
    assert error.rule is Rule.OVERSIZED and "limit" in str(error)


def test_oversized_metadata(served, lab, tmp_path):
    repo = _repo(served, lab)
    (repo.metadata_dir / "timestamp.json").write_bytes(b" " * 100_000)  # endless metadata
    assert _refused(_box(served, repo, tmp_path), tmp_path).rule is Rule.OVERSIZED


def test_unreachable_repository(lab, tmp_path, served):
    repo = _repo(served, lab)
    source = RepositorySource("http://127.0.0.1:9/repo", cache_dir=tmp_path / "c",
                              trusted_root=repo.metadata_dir / "1.root.json", max_bundle_bytes=1 << 20)
    with pytest.raises(VerificationError) as caught:
        source.check()
    assert caught.value.rule is Rule.UNREACHABLE
