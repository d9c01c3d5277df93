"""Coded values shared by every stage: laterality and mammographic view.

View codes are SNOMED CT (DICOM CID 4014), with the legacy SNOMED-RT (SRT)
values some vendors still write.
"""

from __future__ import annotations

import enum


class Laterality(enum.StrEnum):
    """Which breast (DICOM ImageLaterality)."""

    LEFT = "L"
    RIGHT = "R"


class View(enum.StrEnum):
    """Mammographic projection (DICOM ViewPosition)."""

    CC = "CC"
    MLO = "MLO"
    ML = "ML"
    LM = "LM"
    LMO = "LMO"
    XCCL = "XCCL"
    XCCM = "XCCM"
    FB = "FB"
    SIO = "SIO"
    CV = "CV"
    AT = "AT"


#: ViewCodeSequence code value -> view; SNOMED CT first, then legacy SRT.
VIEW_CODES: dict[str, View] = {
    "399162004": View.CC,
    "399368009": View.MLO,
    "399260004": View.ML,
    "399352003": View.LM,
    "399099002": View.LMO,
    "399192003": View.XCCL,
    "399101009": View.XCCM,
    "R-10242": View.CC,
    "R-10226": View.MLO,
    "R-102D2": View.MLO,
}

#: view -> (SNOMED CT code value, code meaning) used when writing DICOM.
VIEW_SCT: dict[View, tuple[str, str]] = {
    View.CC: ("399162004", "cranio-caudal"),
    View.MLO: ("399368009", "medio-lateral oblique"),
    View.ML: ("399260004", "medio-lateral"),
    View.LM: ("399352003", "latero-medial"),
    View.LMO: ("399099002", "latero-medial oblique"),
    View.XCCL: ("399192003", "cranio-caudal exaggerated laterally"),
    View.XCCM: ("399101009", "cranio-caudal exaggerated medially"),
}

#: The four views of a screening exam.
SCREENING_VIEWS: tuple[tuple[Laterality, View], ...] = (
    (Laterality.RIGHT, View.CC),
    (Laterality.LEFT, View.CC),
    (Laterality.RIGHT, View.MLO),
    (Laterality.LEFT, View.MLO),
)
