"""Phantom generator: synthetic mammography exams and training patches with full ground truth.

``make_training_patch`` is the fast path for detector training; ``make_exam``
writes a DICOM exam and its ``truth.json`` (docs/phantom.md).
"""

from .patch import make_training_patch
from .truth import (BiradsCategory, CalcTruth, ClusterTruth, Density, Distribution, ExamTruth, Morphology,
                    SCHEMA_VERSION)

__all__ = ["make_training_patch", "make_exam", "make_stereo", "CalcTruth", "ClusterTruth", "ExamTruth", "Morphology",
           "Distribution", "Density", "BiradsCategory", "SCHEMA_VERSION"]


def __getattr__(name: str):  # make_exam pulls in pydicom; import it only when asked
    if name == "make_exam":
        from .exam import make_exam
        return make_exam
    if name == "make_stereo":
        from .stereo import make_stereo
        return make_stereo
    raise AttributeError(name)
