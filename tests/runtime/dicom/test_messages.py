"""Reader messages quote a value only when it is a coded value from a known set (issue 16 item 4)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from mgfactory import make_dataset

from mammoedge.runtime.config import ReaderConfig
from mammoedge.runtime.dicom import MissingLateralityError, WrongModalityError, read_header
from mammoedge.runtime.errors import InputError
from mammoedge.runtime.intake.store import Intake, Outcome
from mammoedge.runtime.jobs import JobQueue

IDENTIFIERS = {"PatientName": "PLANTNAME^Quixote", "PatientID": "PH-1-00000", "AccessionNumber": "ACC7731945",
               "StudyInstanceUID": "2.25.318207440184216339018462911739",
               "SOPInstanceUID": "2.25.554433221100998877665544332211"}


def _planted_bytes(**changes: str) -> bytes:
    ds, _ = make_dataset(laterality="L", view="CC")
    for keyword, value in {**IDENTIFIERS, **changes}.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = IDENTIFIERS["SOPInstanceUID"]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _assert_no_identifier(text: str) -> None:
    for value in IDENTIFIERS.values():
        for piece in (value, *value.split("^")):
            assert piece not in text, f"{piece!r} in {text!r}"


def test_sop_class_length_swallowing_the_next_elements(tmp_path: Path) -> None:
    """The issue's case: the length of (0008,0016) set to 1024, its value swallows IDs and names."""
    data = bytearray(_planted_bytes())
    tag = data.index(b"\x08\x00\x16\x00UI", 132 + 12)  # the data set's SOP Class UID, not the meta's
    data[tag + 6:tag + 8] = struct.pack("<H", 1024)
    path = tmp_path / "swallowed.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        read_header(path, ReaderConfig())
    _assert_no_identifier(str(caught.value))
    queue = JobQueue(tmp_path / "q.sqlite")
    intake = Intake(spool_dir=tmp_path / "spool", quarantine_dir=tmp_path / "quarantine", queue=queue,
                    secret=b"s" * 32, reader=ReaderConfig())
    result = intake.accept(bytes(data), intake="test")
    assert result.outcome == Outcome.QUARANTINED
    (note,) = (tmp_path / "quarantine").glob("*.json")
    _assert_no_identifier(note.read_text())
    queue.close()


def test_identifier_copied_into_a_checked_attribute_is_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "copied.dcm"
    path.write_bytes(_planted_bytes(ImageLaterality="PH-1-00000"))
    with pytest.raises(MissingLateralityError) as caught:
        read_header(path, ReaderConfig())
    assert str(caught.value) == ("ImageLaterality (a value of 10 characters, not shown) is not one breast; "
                                 "rule: L or R")
    path.write_bytes(_planted_bytes(Modality="ACC7731945"))
    with pytest.raises(WrongModalityError, match=r"Modality \(a value of 10 characters, not shown\)"):
        read_header(path, ReaderConfig())


def test_known_coded_values_are_still_quoted(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes(_planted_bytes(Modality="CT"))
    with pytest.raises(WrongModalityError, match="Modality 'CT' is not accepted"):
        read_header(path, ReaderConfig())
    path.write_bytes(_planted_bytes(SOPClassUID=IDENTIFIERS["SOPInstanceUID"]))
    with pytest.raises(InputError, match="a UID of 35 characters that is not a standard UID, not shown"):
        read_header(path, ReaderConfig())


def test_file_names_are_not_in_messages(tmp_path: Path) -> None:
    """A modality may name files by UID: the reader says "file", the caller knows which."""
    path = tmp_path / f"{IDENTIFIERS['SOPInstanceUID']}.dcm"
    path.write_bytes(b"\0" * 500)
    with pytest.raises(InputError) as caught:
        read_header(path, ReaderConfig())
    _assert_no_identifier(str(caught.value))
