"""The connection gate in front of pynetdicom: a connection gets an association thread only with a whole request.

pynetdicom 3.0.4 starts an association (two threads, one slot of ``maximum_associations``) for every
accepted TCP connection and then reads the A-ASSOCIATE-RQ with a blocking ``recv`` that no ACSE or
network timeout ends: 8 connections that send half a request and stall lock every modality out
(issue 16). Here one selector thread holds every connection that has not yet delivered its request:

* a plain connection is handed to pynetdicom once its whole first PDU is in the socket buffer (looked at
  with ``MSG_PEEK``: the 6-byte PDU header, type 0x01 A-ASSOCIATE-RQ, at most ``MAX_RQ_BYTES``; the bytes
  are left for pynetdicom to read and decode); a TLS connection once its handshake is done;
* a connection that has not got there ``request_timeout_s`` after accept is closed (a deadline from accept,
  not per read: a peer that drips a byte at a time is closed too);
* beyond ``max_pending`` waiting connections the oldest is closed, and beyond ``per_address`` from one
  source address that address's oldest waiting one (a new connection always gets its chance).

After the hand-over the socket gets ``network_timeout_s`` as its read timeout, so a PDU that stalls half-way
inside an association ends it, and the association must be established by the same deadline (TLS peers).
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PDU_HEADER = struct.Struct(">BBL")
A_ASSOCIATE_RQ = 0x01
#: Largest A-ASSOCIATE-RQ accepted (a real one is a few hundred bytes to a few KB).
MAX_RQ_BYTES = 65536
#: How often the gate looks at deadlines, and at connections holding part of a request, seconds.
TICK_S = 0.05

HandOver = Callable[[socket.socket, Any], None]


@dataclass(kw_only=True)
class _Waiting:
    sock: socket.socket
    address: Any
    deadline: float
    tls_pending: bool = False
    #: Part of the request is in the socket buffer: the selector would report it readable on every call
    #: (the gate peeks, it does not consume), so it is looked at once a tick instead.
    partial: bool = False


@dataclass(kw_only=True)
class _Watched:
    """A handed-over connection that must be established by its deadline."""

    sock: socket.socket
    deadline: float
    established: Callable[[], bool] = field(default=lambda: False)


class ConnectionGate:
    """Holds accepted connections until their association request is whole (see the module docstring)."""

    def __init__(self, *, hand_over: HandOver, request_timeout_s: float, network_timeout_s: float,
                 max_pending: int, per_address: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self._hand_over = hand_over
        self.request_timeout_s, self.network_timeout_s = request_timeout_s, network_timeout_s
        self.max_pending, self.per_address = max_pending, per_address
        self._ssl = ssl_context
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[int, _Waiting] = {}  # fd -> connection, in accept order (dicts keep insertion order)
        self._watched: list[_Watched] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-gate", daemon=True)
        self.closed_by_deadline = 0
        self.closed_by_cap = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        self._thread.join(5.0)
        with self._lock:
            for waiting in list(self._waiting.values()):
                _close(waiting.sock)
            self._waiting.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def pending(self) -> int:
        """Connections waiting for their association request."""
        with self._lock:
            return len(self._waiting)

    def admit(self, sock: socket.socket, address: Any) -> None:
        """Take a freshly accepted connection (called from the accept loop; never blocks)."""
        host = _host(address)
        now = time.monotonic()
        sock.setblocking(False)
        tls_pending = False
        if self._ssl is not None:
            try:
                sock = self._ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ssl.SSLError):
                _close(sock)
                return
            tls_pending = True
        with self._lock:
            evict = []
            same = [w for w in self._waiting.values() if _host(w.address) == host]
            if len(same) >= self.per_address:
                evict.extend(same[:len(same) - self.per_address + 1])
            if len(self._waiting) - len(evict) >= self.max_pending:
                rest = [w for w in self._waiting.values() if w not in evict]
                evict.extend(rest[:len(self._waiting) - len(evict) - self.max_pending + 1])
            for waiting in evict:
                self._drop(waiting)
                self.closed_by_cap += 1
            self._waiting[sock.fileno()] = _Waiting(sock=sock, address=address, tls_pending=tls_pending,
                                                    deadline=now + self.request_timeout_s)
            self._selector.register(sock, selectors.EVENT_READ)
        if evict:
            log.warning("%d waiting connection(s) closed: over the cap of %d per address / %d waiting",
                        len(evict), self.per_address, self.max_pending)
        self._wake()

    def watch(self, sock: socket.socket, established: Callable[[], bool]) -> None:
        """Close ``sock`` if ``established()`` is not true by the deadline (a handed-over connection)."""
        with self._lock:
            self._watched.append(_Watched(sock=sock, deadline=time.monotonic() + self.request_timeout_s,
                                          established=established))

    # -- the gate's thread -------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _forget(self, waiting: _Waiting) -> None:
        """Stop watching a waiting connection (lock held)."""
        self._waiting.pop(waiting.sock.fileno(), None)
        if not waiting.partial:
            try:
                self._selector.unregister(waiting.sock)
            except (KeyError, ValueError):
                pass

    def _drop(self, waiting: _Waiting) -> None:
        """Forget and close a waiting connection (lock held)."""
        self._forget(waiting)
        _close(waiting.sock)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self._selector.select(TICK_S)
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            for key, _ in events:
                if key.fileobj is self._wake_r:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                with self._lock:
                    waiting = self._waiting.get(key.fd)
                if waiting is not None:
                    self._advance(waiting)
            with self._lock:
                partial = [w for w in self._waiting.values() if w.partial]
            for waiting in partial:
                self._advance(waiting)
            self._expire()

    def _advance(self, waiting: _Waiting) -> None:
        """Read what the connection sent; hand it over when its request is whole, close it when it is bad."""
        sock = waiting.sock
        if waiting.tls_pending:
            assert isinstance(sock, ssl.SSLSocket)
            try:
                sock.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (OSError, ssl.SSLError) as exc:
                log.warning("TLS handshake failed (%s): connection closed", type(exc).__name__)
                self._forget_and_close(waiting)
                return
            waiting.tls_pending = False
            self._release(waiting)  # TLS records hide the PDU: the deadline watch covers the rest
            return
        try:
            head = sock.recv(PDU_HEADER.size, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            self._forget_and_close(waiting)
            return
        if not head:  # the peer closed
            self._forget_and_close(waiting)
            return
        if len(head) < PDU_HEADER.size:
            self._set_partial(waiting)
            return
        pdu_type, _, length = PDU_HEADER.unpack(head)
        if pdu_type != A_ASSOCIATE_RQ or length > MAX_RQ_BYTES:
            log.warning("connection closed: its first PDU is not an A-ASSOCIATE-RQ of at most %d bytes "
                        "(type 0x%02X, %d bytes)", MAX_RQ_BYTES, pdu_type, length)
            self._forget_and_close(waiting)
            return
        try:
            whole = len(sock.recv(PDU_HEADER.size + length, socket.MSG_PEEK)) == PDU_HEADER.size + length
        except OSError:
            return
        if whole:
            self._release(waiting)
        else:
            self._set_partial(waiting)

    def _set_partial(self, waiting: _Waiting) -> None:
        """Stop selecting a connection that holds part of its request; the tick looks at it instead."""
        if waiting.partial:
            return
        with self._lock:
            waiting.partial = True
            try:
                self._selector.unregister(waiting.sock)
            except (KeyError, ValueError):
                pass

    def _forget_and_close(self, waiting: _Waiting) -> None:
        with self._lock:
            self._drop(waiting)

    def _release(self, waiting: _Waiting) -> None:
        with self._lock:
            self._forget(waiting)
        sock = waiting.sock
        try:
            sock.settimeout(self.network_timeout_s)  # blocking again, with a read deadline per recv
            self._hand_over(sock, waiting.address)
        except Exception as exc:
            log.error("connection could not be handed to the DICOM server (%s)", type(exc).__name__)
            _close(sock)

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [w for w in self._waiting.values() if w.deadline <= now]
            for waiting in late:
                self._drop(waiting)
            due = [w for w in self._watched if w.deadline <= now]
            self._watched = [w for w in self._watched if w.deadline > now]
        self.closed_by_deadline += len(late)
        for watched in due:
            try:
                ok = watched.established()
            except Exception:
                ok = False
            if not ok:
                self.closed_by_deadline += 1
                _shutdown(watched.sock)
        if late:
            log.warning("%d connection(s) closed: no whole association request within %.1f s of accept",
                        len(late), self.request_timeout_s)


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


def _close(sock: socket.socket) -> None:
    _shutdown(sock)
    try:
        sock.close()
    except OSError:
        pass


def _shutdown(sock: socket.socket) -> None:
    """End a connection so a blocked ``recv`` in another thread returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
