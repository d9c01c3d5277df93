"""Run the page with uvicorn: HTTPS with the box's certificate, plain HTTP only on a loopback address."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from ..config import Config
from .app import create_app
from .errors import WebConfigError

log = logging.getLogger(__name__)
#: the box's certificate (signed by the site from `mammoedge device`'s CSR) next to the device key
DEVICE_CERT = "device.crt"
DEVICE_KEY = "device-key.pem"


def tls_files(config: Config) -> tuple[Path, Path] | None:
    """(certificate, key) to serve HTTPS with, or None: the configured pair, else the box's certificate."""
    web = config.web
    if web.tls_cert_file is not None:
        if web.tls_key_file is None:
            raise WebConfigError("web.tls_key_file must be set together with web.tls_cert_file")
        return Path(web.tls_cert_file), Path(web.tls_key_file)
    identity = Path(config.service.state_dir) / "identity"
    cert, key = identity / DEVICE_CERT, Path(web.tls_key_file) if web.tls_key_file else identity / DEVICE_KEY
    return (cert, key) if cert.is_file() and key.is_file() else None


def serve(config: Config) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers)."""
    import uvicorn

    tls = tls_files(config)
    if tls is None and not ipaddress.ip_address(config.web.bind_address).is_loopback:
        raise WebConfigError(f"web.bind_address = {config.web.bind_address!r} needs TLS (rule: plain HTTP only on a "
                             f"loopback address); set web.tls_cert_file/tls_key_file or install the box's "
                             f"certificate as <service.state_dir>/identity/{DEVICE_CERT}")
    app = create_app(config, tls=tls is not None)
    log.info("page on %s://%s:%d", "https" if tls else "http", config.web.bind_address, config.web.port)
    uvicorn.run(app, host=config.web.bind_address, port=config.web.port, log_config=None, access_log=True,
                ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None,
                server_header=False, proxy_headers=False,
                timeout_graceful_shutdown=3)  # open event streams never end by themselves
