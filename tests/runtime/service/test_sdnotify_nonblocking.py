"""A service manager that stops reading must never stall the service's main loop."""

import socket

from mammoedge.runtime.service import sdnotify


def test_notify_drops_instead_of_blocking_when_the_queue_is_full(tmp_path):
    path = tmp_path / "notify.sock"
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(path))  # never reads
    results = [sdnotify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(path)}) for _ in range(500)]
    assert results[0] is True
    assert results[-1] is False  # the queue filled up; the call returned instead of blocking
    assert manager.recv(64) == b"WATCHDOG=1"
    manager.close()
