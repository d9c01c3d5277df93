"""C-STORE of queued objects to each destination (pynetdicom), with retry and backoff.

Per pass: one association per destination carries every due object and stays open for objects queued
while it sends (in the service with one destination, also for ``LINGER_S`` after the last one; with more,
the next destination is not kept waiting), so an exam's objects, queued one by one as they are built,
share one association. It proposes every kind of object this software makes (Explicit VR Little Endian)
besides what the batch holds. Outcomes:

- success status (0x0000, or a warning 0xB000/0xB006/0xB007) -> delivered, never sent again;
- no association (refused connection, timeout), an abort or a lost connection mid-transfer, a transient
  rejection -> retried after ``retry_initial_s`` doubled per attempt up to ``retry_max_s``;
- a permanent rejection (e.g. our or its AE title not recognized), a failure status from the destination,
  or ``max_attempts`` used up -> refused: the file is kept and the reason shown (status, exam result).
"""

from __future__ import annotations

import enum
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, _config
from pynetdicom.association import Association

from ..config import DestinationConfig, ForwardConfig
from .queue import DUE, Delivery, SendQueue

log = logging.getLogger(__name__)
_config.LOG_REQUEST_IDENTIFIERS = False  # pynetdicom would log identifiers (patient data)
_config.LOG_RESPONSE_IDENTIFIERS = False
_config.LOG_HANDLER_LEVEL = "none"  # its standard DIMSE handlers log Affected SOP Instance UIDs
_config.STORE_SEND_CHUNKED_DATASET = True  # send a file's bytes in PDU-sized chunks instead of decoding it
#: C-STORE warning statuses that still store the object (PS3.4 B.2.3)
STORED_WITH_WARNING = frozenset({0xB000, 0xB006, 0xB007})
#: SOP classes of the objects this software makes (CAD SR, Comprehensive SR, GSPS, Secondary Capture): an
#: association proposes all of them, so objects queued later ride on it
OUR_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.50", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.11.1",
                   "1.2.840.10008.5.1.4.1.1.7")
#: the service's sender keeps an association open this long for the next object of the same exam
LINGER_S = 1.0


class Outcome(enum.StrEnum):
    """What one attempt at one object came to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class Attempt:
    outcome: Outcome
    reason: str | None = None


def backoff_s(attempts: int, config: ForwardConfig) -> float:
    """Wait after the ``attempts``-th failed attempt: initial x 2^(attempts-1), at most ``retry_max_s``."""
    return float(min(config.retry_max_s, config.retry_initial_s * 2 ** max(0, attempts - 1)))


def tls_context(destination: DestinationConfig) -> ssl.SSLContext:
    """Client TLS (>= 1.2) verifying the destination; with a client certificate when configured."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(destination.tls_ca_file) if destination.tls_ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if destination.tls_cert_file is not None and destination.tls_key_file is not None:
        context.load_cert_chain(str(destination.tls_cert_file), str(destination.tls_key_file))
    return context


def _rejection(assoc: Association) -> tuple[bool, str]:
    """(permanent, reason) of an A-ASSOCIATE-RJ."""
    rsp = assoc.acceptor.primitive
    if rsp is None:
        return False, "association rejected"
    permanent = rsp.result == 0x01
    return permanent, f"association rejected ({rsp.result_str}): {rsp.reason_str}"


class Sender:
    """Sends due objects of every destination; ``send_due`` is one pass, ``run`` loops until stopped."""

    def __init__(self, config: ForwardConfig, queue: SendQueue, *, linger_s: float = 0.0,
                 wake: threading.Event | None = None) -> None:
        self.config, self.queue = config, queue
        self.last_error: dict[str, str] = {}
        self.linger_s, self.wake = linger_s, wake  # wait this long on ``wake`` for more objects before release
        self.stop: threading.Event | None = None
        self.associations = 0  #: associations established (for tests and the benchmark)

    def _ae(self, contexts: set[tuple[str, str]]) -> AE:
        ae = AE(ae_title=self.config.calling_ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.config.timeout_s
        ae.connection_timeout = self.config.timeout_s
        syntaxes: dict[str, set[str]] = {sop_class: {ExplicitVRLittleEndian} for sop_class in OUR_SOP_CLASSES}
        for sop_class, syntax in contexts:
            syntaxes.setdefault(sop_class, set()).add(syntax)
        for sop_class in sorted(syntaxes):
            ae.add_requested_context(sop_class, sorted(syntaxes[sop_class]))
        return ae

    def _readable(self, batch: list[Delivery], tally: dict[Outcome, int]) -> dict[int, tuple[str, str]]:
        """(SOP class, transfer syntax) of each object from its file's meta header; unreadable ones refused."""
        metas: dict[int, tuple[str, str]] = {}
        for d in batch:
            try:
                meta = read_file_meta_info(d.path)
                metas[d.id] = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
            except (OSError, ValueError, AttributeError, pydicom.errors.InvalidDicomError) as exc:
                self.queue.refuse(d, f"object file unreadable ({type(exc).__name__})")
                tally[Outcome.REFUSED] += 1
        return metas

    def _more(self, destination: DestinationConfig) -> list[Delivery]:
        """Objects queued for ``destination`` since the last claim; with a linger, waits for one that long."""
        if self.wake is not None:
            self.wake.clear()  # before claiming: an object queued after the claim wakes the wait below
        batch = self.queue.claim(destination.name)
        lingers = self.wake is not None and self.linger_s > 0 and len(self.config.destinations) == 1
        if batch or not lingers or (self.stop is not None and self.stop.is_set()):
            return batch
        assert self.wake is not None
        if self.wake.wait(self.linger_s) and not (self.stop is not None and self.stop.is_set()):
            return self.queue.claim(destination.name)
        return []

    def send_due(self, destination: DestinationConfig) -> dict[Outcome, int]:
        """One association to ``destination`` for its due objects (and those queued meanwhile); returns how
        many ended how."""
        batch = self.queue.claim(destination.name)
        tally = {o: 0 for o in Outcome}
        if not batch:
            return tally
        metas = self._readable(batch, tally)
        todo = [d for d in batch if d.id in metas]
        if not todo:
            return tally
        contexts = set(metas.values())
        ae = self._ae(contexts)
        tls = (tls_context(destination), destination.host) if destination.tls else None
        try:
            assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title, tls_args=tls)
        except (OSError, ssl.SSLError) as exc:
            self._fail_all(todo, False, f"no association: {type(exc).__name__}", tally)
            return tally
        try:
            if assoc.is_rejected:
                permanent, reason = _rejection(assoc)
                self._fail_all(todo, permanent, reason, tally)
                return tally
            if not assoc.is_established:
                self._fail_all(todo, False, "no association (connection failed or aborted)", tally)
                return tally
            self.associations += 1
            while todo:
                for i, d in enumerate(todo):
                    attempt = self._store(assoc, d.path)
                    self._record(d, attempt, tally)
                    if attempt.outcome is Outcome.RETRY and not assoc.is_established:  # lost: the rest next time
                        self._fail_all(todo[i + 1:], False, attempt.reason or "association lost", tally)
                        return tally
                more = self._more(destination)  # objects queued meanwhile go on this association
                metas = self._readable(more, tally)
                todo = [d for d in more if d.id in metas]
        finally:
            if assoc.is_established:
                assoc.release()
        return tally

    def _store(self, assoc: Association, path: Path) -> Attempt:
        try:
            status = assoc.send_c_store(path)  # the file's encoded data set, sent as stored (no decode)
        except (OSError, RuntimeError, ValueError) as exc:
            return Attempt(outcome=Outcome.RETRY, reason=f"C-STORE not sent: {type(exc).__name__}")
        if not status or "Status" not in status:  # no response: aborted, timed out or connection lost
            return Attempt(outcome=Outcome.RETRY, reason="no C-STORE response (association aborted or lost)")
        code = int(status.Status)
        if code == 0x0000 or code in STORED_WITH_WARNING:
            return Attempt(outcome=Outcome.DELIVERED)
        return Attempt(outcome=Outcome.REFUSED, reason=f"C-STORE failed with status 0x{code:04X}")

    def _record(self, d: Delivery, attempt: Attempt, tally: dict[Outcome, int]) -> None:
        if attempt.outcome is Outcome.DELIVERED:
            self.queue.delivered(d)
        elif attempt.outcome is Outcome.REFUSED or d.attempts >= self.config.max_attempts:
            reason = attempt.reason if attempt.outcome is Outcome.REFUSED else (
                f"gave up after {d.attempts} attempts; last: {attempt.reason}")
            self.queue.refuse(d, reason or "refused")
            self.last_error[d.destination] = reason or "refused"
            log.warning("forward %s: object refused (%s); kept", d.destination, reason)
            tally[Outcome.REFUSED] += 1
            return
        else:
            self.queue.retry(d, attempt.reason or "retry", backoff_s(d.attempts, self.config))
            self.last_error[d.destination] = attempt.reason or "retry"
        tally[attempt.outcome] += 1

    def _fail_all(self, batch: list[Delivery], permanent: bool, reason: str, tally: dict[Outcome, int]) -> None:
        """One outcome for every object of a batch (no association, a rejection, a lost connection)."""
        log.warning("forward %s: %s (%d object(s))", batch[0].destination if batch else "-", reason, len(batch))
        for d in batch:
            self._record(d, Attempt(outcome=Outcome.REFUSED if permanent else Outcome.RETRY, reason=reason), tally)

    def run(self, stop: threading.Event, wake: threading.Event | None = None,
            on_pass: Callable[[], None] | None = None) -> None:
        """Send until ``stop``; after a restart, objects cut mid-transfer are sent again first."""
        self.stop = stop
        self.queue.requeue_interrupted()
        while not stop.is_set():
            if wake is not None:
                wake.clear()  # before the pass: an object queued during it wakes the next one at once
            busy = False
            for destination in self.config.destinations:
                try:
                    tally = self.send_due(destination)
                except Exception as exc:  # a bug must not stop the other destinations or the service
                    log.exception("forward %s: sender raised %s", destination.name, type(exc).__name__)
                    continue
                busy = busy or any(tally.values())
            if on_pass is not None:
                on_pass()
            if not busy:
                if wake is not None:
                    wake.wait(self.config.poll_s)
                else:
                    stop.wait(self.config.poll_s)


class SenderThread(threading.Thread):
    """The service's sender: a daemon thread around :meth:`Sender.run`."""

    def __init__(self, config: ForwardConfig, queue: SendQueue) -> None:
        super().__init__(name="forward-sender", daemon=True)
        self.stop_event, self.wake = threading.Event(), DUE  # set when this process queues an object
        self.sender = Sender(config, queue, linger_s=LINGER_S, wake=self.wake)

    def run(self) -> None:
        self.sender.run(self.stop_event, self.wake)

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        self.wake.set()
        self.join(timeout)
