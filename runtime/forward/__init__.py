"""Forwarding DICOM results to configured destinations: a durable send queue and a C-STORE sender."""

from .outbox import enqueue_results, forward_paths
from .queue import Delivery, DeliveryState, DeliveryStatus, SendQueue
from .sender import Outcome, Sender, SenderThread, backoff_s

__all__ = ["Delivery", "DeliveryState", "DeliveryStatus", "Outcome", "SendQueue", "Sender", "SenderThread",
           "backoff_s", "enqueue_results", "forward_paths"]
