"""The on-disk job queue (SQLite WAL) and the study assembler."""

from .queue import Job, JobQueue, JobState, QueueStats, ViewState

__all__ = ["Job", "JobQueue", "JobState", "QueueStats", "ViewState"]
