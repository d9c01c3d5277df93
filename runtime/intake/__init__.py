"""Intake: the DICOM Storage SCP, the hot folder, the durable spool and the quarantine."""
