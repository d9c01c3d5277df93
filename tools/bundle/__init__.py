"""The lab's bundle builder and TUF update repository (``mammoedge bundle``)."""
