"""Coded values shared by every stage: laterality, mammographic view, calcification descriptors.

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


class Morphology(enum.StrEnum):
    """BI-RADS (5th ed.) calcification morphology, with the typically benign subtypes."""

    AMORPHOUS = "amorphous"
    COARSE_HETEROGENEOUS = "coarse_heterogeneous"
    FINE_PLEOMORPHIC = "fine_pleomorphic"
    FINE_LINEAR_BRANCHING = "fine_linear_branching"
    VASCULAR = "vascular"
    COARSE_POPCORN = "coarse_popcorn"
    LARGE_ROD_LIKE = "large_rod_like"
    ROUND = "round"
    PUNCTATE = "punctate"
    RIM = "rim"
    DYSTROPHIC = "dystrophic"
    SKIN = "skin"

    @property
    def suspicious(self) -> bool:
        return self in SUSPICIOUS_MORPHOLOGIES

    @property
    def group(self) -> MorphologyClass:
        """The reported class: the suspicious type itself, or typically benign."""
        return MorphologyClass(self.value) if self.suspicious else MorphologyClass.TYPICALLY_BENIGN


SUSPICIOUS_MORPHOLOGIES = frozenset(
    {Morphology.AMORPHOUS, Morphology.COARSE_HETEROGENEOUS, Morphology.FINE_PLEOMORPHIC,
     Morphology.FINE_LINEAR_BRANCHING}
)


class MorphologyClass(enum.StrEnum):
    """What a cluster's morphology is reported as: four suspicious types or typically benign."""

    AMORPHOUS = "amorphous"
    COARSE_HETEROGENEOUS = "coarse_heterogeneous"
    FINE_PLEOMORPHIC = "fine_pleomorphic"
    FINE_LINEAR_BRANCHING = "fine_linear_branching"
    TYPICALLY_BENIGN = "typically_benign"


class Distribution(enum.StrEnum):
    """BI-RADS distribution; ``single`` marks an isolated calcification."""

    GROUPED = "grouped"
    LINEAR = "linear"
    SEGMENTAL = "segmental"
    REGIONAL = "regional"
    DIFFUSE = "diffuse"
    SINGLE = "single"


class BiradsCategory(enum.StrEnum):
    """BI-RADS assessment category a finding suggests (4 split into A/B/C)."""

    NEGATIVE = "1"
    BENIGN = "2"
    PROBABLY_BENIGN = "3"
    SUSPICIOUS_LOW = "4A"
    SUSPICIOUS_MODERATE = "4B"
    SUSPICIOUS_HIGH = "4C"
    HIGHLY_SUGGESTIVE = "5"

    @property
    def rank(self) -> int:
        return list(BiradsCategory).index(self)
