"""A real Orthanc (Debian's package) on 127.0.0.1 and an analysed phantom exam, for the DICOM results tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pydicom


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """``Orthanc CONFIG.json`` in the foreground: DICOM and HTTP on free loopback ports, only ``allowed`` may store."""

    def __init__(self, root: Path, *, aet: str = "ORTHANC", allowed: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        if shutil.which("Orthanc") is None:
            raise RuntimeError("Orthanc is not installed (apt-get install -y orthanc; .ci/setup does it)")
        self.root, self.aet = root, aet
        self.dicom_port, self.http_port = free_port(), free_port()
        self.storage = root / "storage"
        self.config = root / "orthanc.json"
        self.log = root / "orthanc.log"
        modalities = {name: [ae, "127.0.0.1", 104] for name, ae in (allowed or {"edge": "MAMMOEDGE"}).items()}
        self.config.write_text(json.dumps({
            "Name": "mammoedge-test", "StorageDirectory": str(self.storage), "IndexDirectory": str(self.storage),
            "DicomAet": aet, "DicomPort": self.dicom_port, "HttpPort": self.http_port, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowEcho": False, "DicomCheckModalityHost": True, "DicomModalities": modalities,
            "Plugins": [], "StorageCompression": False, "HttpServerEnabled": True, "DicomServerEnabled": True,
            "OverwriteInstances": False, "ConcurrentJobs": 1, "DicomThreadsCount": 2,
            **({} if tls is None else {  # (server certificate, key, CA bundle): DICOM port TLS-only
                "DicomTlsEnabled": True, "DicomTlsCertificate": str(tls[0]), "DicomTlsPrivateKey": str(tls[1]),
                "DicomTlsTrustedCertificates": str(tls[2]), "DicomTlsRemoteCertificateRequired": False}),
        }))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Orthanc:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["Orthanc", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                self.get("/system")
                socket.create_connection(("127.0.0.1", self.dicom_port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not come up within 20 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as response:
            return response.read()

    def get_json(self, path: str) -> object:
        return json.loads(self.get(path))

    def instances(self) -> list[str]:
        return list(self.get_json("/instances"))  # type: ignore[arg-type]

    def new_instance_events(self) -> int:
        """How many instances Orthanc stored as new (a duplicate C-STORE of the same UID adds none)."""
        changes = self.get_json("/changes?limit=10000")
        return sum(1 for c in changes["Changes"] if c["ChangeType"] == "NewInstance")  # type: ignore[index]

    def dataset(self, orthanc_id: str) -> pydicom.Dataset:
        from io import BytesIO

        return pydicom.dcmread(BytesIO(self.get(f"/instances/{orthanc_id}/file")))

    def by_sop_uid(self) -> dict[str, pydicom.Dataset]:
        out = {}
        for i in self.instances():
            ds = self.dataset(i)
            out[str(ds.SOPInstanceUID)] = ds
        return out


@dataclass
class AnalysedExam:
    result: object
    sources: list[pydicom.Dataset]
    images: list[object]
    paths: list[Path]


def phantom_exam(out: Path, seed: int = 5) -> list[Path]:
    """A small four-view phantom exam with planted clusters (``mammoedge phantom``)."""
    exe = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin/mammoedge"
    command = [str(exe) if exe.exists() else "mammoedge", "phantom", "--out", str(out), "--exams", "1",
               "--seed", str(seed), "--size", "small", "--normal-fraction", "0"]
    if not Path(command[0]).exists():
        import sys

        command[0] = str(Path(sys.executable).with_name("mammoedge"))
    subprocess.run(command, check=True, capture_output=True)
    return sorted((out / "exam_00000").glob("*.dcm"))


def analyse(paths: list[Path]) -> AnalysedExam:
    """The real exam pipeline on ``paths``: read, normalize, detect, cluster, morphology, triage."""
    from mammoedge.runtime.config import Config
    from mammoedge.runtime.dicom_results import align_sources
    from mammoedge.runtime.pipeline import ExamPipeline, shared_models

    config = Config()
    run = ExamPipeline(shared_models(config), config).analyze_files(paths, study_key="ab" * 16)
    sources = align_sources(run.views, [pydicom.dcmread(p, stop_before_pixels=True) for p in paths])
    return AnalysedExam(result=run.result, sources=sources, images=list(run.views), paths=paths)


def make_tls(directory: Path, name: str = "ca") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 it signed: (server cert, server key, CA cert) PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {name}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False).sign(ca_key, hashes.SHA256()))
    paths = (directory / f"{name}-server.pem", directory / f"{name}-server.key", directory / f"{name}.pem")
    paths[0].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths
