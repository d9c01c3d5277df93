"""The on-disk job queue (SQLite WAL) and the study assembler."""

from .queue import Job, JobQueue, JobState, QueueStats

__all__ = ["Job", "JobQueue", "JobState", "QueueStats"]
