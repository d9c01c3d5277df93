"""Fleet tools: a monitor of every device's telemetry and a simulator of many devices (``mammoedge fleet``)."""
