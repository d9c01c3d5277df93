"""The DICOM Storage SCP (mammography, For Presentation and For Processing) and C-ECHO.

Answers (DICOM PS3.4 Annex B, Table B.2-1):

=======  =========================================================================
0x0000   success: the instance is durably in the spool (or was already: duplicate)
0xA700   refused, out of resources: free space below service.min_free_mb, or the disk is full
0xA701   refused, out of resources: the spool could not be written (other I/O error)
0xA900   error, data set does not match SOP class: wrong SOP class or modality
0xC210   error, cannot understand: any other reader rejection (reason in ErrorComment);
         the instance is kept in the quarantine with a JSON note of the reason
=======  =========================================================================

Associations from a calling AE title outside the allow-list are rejected
(permanent, service user, reason 0x03 "calling AE title not recognised"); from
a source address outside the allow-list (permanent, service user, 0x01 "no
reason given"); beyond ``max_associations``, or beyond ``max_connections_per_address``
from one source address, they are rejected (transient, 0x02 "local limit exceeded").
Before any of that, a connection waits in the :mod:`.gate` until its whole
A-ASSOCIATE-RQ has arrived: stalled and idle connections take no association slot.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, _config as pynetdicom_config, evt
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]  # generated at import
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from ..config import ServiceConfig
from ..dicom import MG_FOR_PRESENTATION, MG_FOR_PROCESSING, SUPPORTED_TRANSFER_SYNTAXES
from ..errors import ConfigError
from .gate import ConnectionGate
from .quiet import quiet_third_party_logs
from .store import Intake, Outcome

log = logging.getLogger(__name__)

# pynetdicom logs identifiers and request details by default: patient data must never reach a log.
pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
pynetdicom_config.LOG_HANDLER_LEVEL = "none"
quiet_third_party_logs()  # pynetdicom's own warnings quote UIDs (issue 16)

STATUS_SUCCESS = 0x0000
STATUS_DISK_FULL = 0xA700
STATUS_WRITE_FAILED = 0xA701
STATUS_SOP_CLASS_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC210
SOP_CLASS_MISMATCH_REASONS = frozenset({"wrong-sop-class", "wrong-modality"})


def store_status(outcome: Outcome, reason: str = "") -> int:
    """The C-STORE status for an intake outcome (table in the module docstring)."""
    if outcome in (Outcome.STORED, Outcome.DUPLICATE):
        return STATUS_SUCCESS
    if outcome == Outcome.DISK_FULL:
        return STATUS_DISK_FULL
    if outcome == Outcome.WRITE_FAILED:
        return STATUS_WRITE_FAILED
    return STATUS_SOP_CLASS_MISMATCH if reason in SOP_CLASS_MISMATCH_REASONS else STATUS_CANNOT_UNDERSTAND


def tls_context(config: ServiceConfig) -> ssl.SSLContext | None:
    """The server TLS context (TLS >= 1.2), or None when no certificate is configured."""
    if config.tls_cert_file is None and config.tls_key_file is None:
        return None
    if config.tls_cert_file is None or config.tls_key_file is None:
        raise ConfigError("service.tls_cert_file and service.tls_key_file must be set together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)
        if config.tls_client_ca_file is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(config.tls_client_ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files cannot be loaded: {exc}") from None
    return ctx


@dataclass(frozen=True, kw_only=True)
class AddressAllowList:
    """Source addresses allowed to associate; empty allows all."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> AddressAllowList:
        try:
            return cls(networks=tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries))
        except ValueError as exc:
            raise ConfigError(f"service.allowed_addresses: {exc}; rule: IP address or CIDR network") from None

    def allows(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


class _GatedHandler(RequestHandler):
    """pynetdicom's request handler; the association is watched until it is established."""

    server: GatedAssociationServer

    def handle(self) -> None:
        assoc = self._create_association()
        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        self.server.gate.watch(self.request, lambda: bool(assoc.is_established or not assoc.is_alive()))
        assoc.start()


class GatedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server whose accepted connections go through a :class:`ConnectionGate` first."""

    def __init__(self, *args: Any, gate_options: dict[str, Any], **kwargs: Any) -> None:
        kwargs["request_handler"] = _GatedHandler
        super().__init__(*args, **kwargs)
        self.daemon_threads = True
        self.block_on_close = False
        self.gate = ConnectionGate(hand_over=self._hand_over, ssl_context=self.ssl_context, **gate_options)
        self.gate.start()

    def get_request(self) -> tuple[Any, Any]:
        """Accept without TLS: the handshake happens in the gate, never in the accept loop."""
        assert self.socket is not None
        return self.socket.accept()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.gate.admit(request, client_address)

    def _hand_over(self, sock: Any, client_address: Any) -> None:
        ThreadedAssociationServer.process_request(self, sock, client_address)

    def server_close(self) -> None:
        self.gate.stop()
        super().server_close()


class Receiver:
    """The Storage SCP; :meth:`start` listens in background threads, :meth:`stop` shuts it down."""

    def __init__(self, config: ServiceConfig, intake: Intake) -> None:
        self.config, self.intake = config, intake
        self.addresses = AddressAllowList.parse(config.allowed_addresses)
        self._ssl = tls_context(config)
        self._server: Any = None
        self.ae = self._make_ae()

    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.acse_timeout = self.config.acse_timeout_s
        ae.dimse_timeout = self.config.dimse_timeout_s
        ae.network_timeout = self.config.network_timeout_s
        ae.maximum_associations = self.config.max_associations
        ae.maximum_pdu_size = self.config.max_pdu_bytes
        ae.require_calling_aet = [a.strip() for a in self.config.allowed_calling_aets]
        syntaxes = list(SUPPORTED_TRANSFER_SYNTAXES)
        for sop_class in (MG_FOR_PRESENTATION, MG_FOR_PROCESSING):
            ae.add_supported_context(sop_class, syntaxes)
        ae.add_supported_context(Verification)
        return ae

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else 0

    def start(self) -> None:
        quiet_third_party_logs()  # loggers of modules imported since
        handlers: list[Any] = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_REQUESTED, self._on_requested)]
        gate_options = {"request_timeout_s": self.config.association_request_timeout_s,
                        "network_timeout_s": self.config.network_timeout_s,
                        "max_pending": self.config.max_pending_connections,
                        "per_address": self.config.max_connections_per_address}
        server = self.ae.make_server((self.config.bind_address, self.config.port), evt_handlers=handlers,
                                     ssl_context=self._ssl, server_class=GatedAssociationServer,
                                     gate_options=gate_options)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="dicom-accept", daemon=True)
        thread.start()
        self.ae._servers.append(server)
        self._server = server
        log.info("DICOM receiver %s listening on %s:%d%s", self.config.ae_title, self.config.bind_address,
                 self.port, " (TLS)" if self._ssl else "")

    def stop(self) -> None:
        """Stop accepting; associations in progress end (their unacknowledged instances are resent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def active_associations(self) -> int:
        return len(self.ae.active_associations)

    # -- handlers (pynetdicom turns an exception in them into a failure status; they do not raise) --
    def _on_requested(self, event: evt.Event) -> None:
        address = event.assoc.requestor.address
        if not self.addresses.allows(address):
            log.warning("association from a source address outside the allow-list rejected")
            event.assoc.acse.send_reject(0x01, 0x01, 0x01)
            event.assoc.kill()  # waits until the A-ASSOCIATE-RJ has been sent
            return
        same = [a for a in self.ae.active_associations
                if a is not event.assoc and a.is_acceptor and a.is_established and a.requestor.address == address]
        if len(same) >= self.config.max_connections_per_address:
            log.warning("association rejected: its source address already holds %d (max_connections_per_address)",
                        len(same))
            event.assoc.acse.send_reject(0x02, 0x03, 0x02)  # transient, service provider, local limit exceeded
            event.assoc.kill()

    def _on_echo(self, event: evt.Event) -> int:
        return STATUS_SUCCESS

    def _on_store(self, event: evt.Event) -> Dataset:
        reply = Dataset()
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as exc:  # malformed request: nothing to store
            log.warning("C-STORE data set cannot be encoded (%s)", type(exc).__name__)
            reply.Status = STATUS_CANNOT_UNDERSTAND
            reply.ErrorComment = "cannot-encode"
            return reply
        result = self.intake.accept(data, intake="dicom")
        reply.Status = store_status(result.outcome, result.reason)
        if result.reason:
            reply.ErrorComment = result.reason[:64]
        return reply


def install_thread_excepthook() -> None:
    """Log uncaught exceptions of pynetdicom's threads without patient data, and free their slot.

    pynetdicom 3.0.4 raises ``ValueError`` in the DUL thread on an A-ASSOCIATE-RQ with an
    even presentation-context ID; its association thread would then hold a slot until the
    ACSE timeout. Handing that thread ``None`` (what it gets on a timeout) ends it at once.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        thread = args.thread
        if isinstance(thread, DULServiceProvider):
            log.warning("association ended by %s in pynetdicom's DUL thread; association aborted, slot freed",
                        args.exc_type.__name__)
            thread.to_user_queue.put(None)  # type: ignore[arg-type]  # what a timeout hands the thread
            return
        if isinstance(thread, Association):
            log.warning("association thread ended by %s", args.exc_type.__name__)
            return
        previous(args)

    threading.excepthook = hook
