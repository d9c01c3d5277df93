"""Coded concepts of the DICOM results: DCM and SNOMED CT codes of the Mammography CAD SR, our own scheme."""

from __future__ import annotations

import enum

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

from ..analysis.geometry import Quadrant
from ..codes import VIEW_SCT, BiradsCategory, Distribution, Laterality, Morphology, MorphologyClass, View
from ..config import ForwardObject

#: Our coding scheme for the exam-level concepts DICOM has no code for (declared in each SR).
SCHEME = "99MAMMOEDGE"
SCHEME_NAME = "mammoedge exam-level results"


#: The DICOM objects one analysis produces; forward destinations choose among these (config: ``objects``).
ResultKind = ForwardObject


class ResultSeries(enum.IntEnum):
    """Our series numbers, one per kind (the same in every study)."""

    CAD_SR = 9001
    SUMMARY_SR = 9002
    GSPS = 9003
    SC = 9004


MAMMOGRAPHY_CAD_SR = "1.2.840.10008.5.1.4.1.1.88.50"

LATERALITY = {Laterality.RIGHT: CodedConcept("24028007", "SCT", "Right"),
              Laterality.LEFT: CodedConcept("7771000", "SCT", "Left")}


def view_code(view: View) -> CodedConcept:
    """SNOMED CT code of a mammographic view (CID 4014)."""
    try:
        value, meaning = VIEW_SCT[view]
    except KeyError:
        raise ValueError(f"view {view.value!r} has no SNOMED CT code in codes.VIEW_SCT") from None
    return CodedConcept(value, "SCT", meaning)


#: BI-RADS distribution -> CID 6012 (Calcification Distribution); "single" has none.
DISTRIBUTION = {
    Distribution.GROUPED: CodedConcept("129766004", "SCT", "Grouped calcification distribution"),
    Distribution.LINEAR: CodedConcept("129765000", "SCT", "Linear calcification distribution"),
    Distribution.SEGMENTAL: CodedConcept("129768003", "SCT", "Segmental calcification distribution"),
    Distribution.REGIONAL: CodedConcept("129767008", "SCT", "Regional calcification distribution"),
    Distribution.DIFFUSE: CodedConcept("129764001", "SCT", "Diffuse calcification distribution"),
}

#: Reported morphology class -> CID 6010 (Calcification Type).
MORPHOLOGY_CLASS = {
    MorphologyClass.AMORPHOUS: CodedConcept("129760005", "SCT", "Amorphous calcification"),
    MorphologyClass.COARSE_HETEROGENEOUS: CodedConcept("129763007", "SCT", "Heterogeneous calcification"),
    MorphologyClass.FINE_PLEOMORPHIC: CodedConcept("111344", "DCM", "Fine pleomorphic calcification"),
    MorphologyClass.FINE_LINEAR_BRANCHING: CodedConcept("129762002", "SCT",
                                                        "Fine linear, branching (casting) calcification"),
    MorphologyClass.TYPICALLY_BENIGN: CodedConcept("111256", "DCM", "Benign Calcifications"),
}

#: Typically benign subtype -> its own CID 6010 code, when it has one.
BENIGN_SUBTYPE = {
    Morphology.VASCULAR: CodedConcept("129759000", "SCT", "Vascular calcification"),
    Morphology.COARSE_POPCORN: CodedConcept("129749001", "SCT", "Coarse (popcorn-like) calcification"),
    Morphology.LARGE_ROD_LIKE: CodedConcept("129752009", "SCT", "Large rod-like calcification"),
    Morphology.ROUND: CodedConcept("129756007", "SCT", "Round shaped calcification"),
    Morphology.PUNCTATE: CodedConcept("129755006", "SCT", "Punctate calcification"),
    Morphology.RIM: CodedConcept("129751002", "SCT", "Eggshell calcification"),
    Morphology.DYSTROPHIC: CodedConcept("129750001", "SCT", "Dystrophic calcification"),
    Morphology.SKIN: CodedConcept("129757003", "SCT", "Calcified skin of breast"),
}

QUADRANT = {
    Quadrant.UPPER_OUTER: CodedConcept("76365002", "SCT", "Upper outer quadrant of breast"),
    Quadrant.UPPER_INNER: CodedConcept("77831004", "SCT", "Upper inner quadrant of breast"),
    Quadrant.LOWER_OUTER: CodedConcept("33564002", "SCT", "Lower outer quadrant of breast"),
    Quadrant.LOWER_INNER: CodedConcept("19100000", "SCT", "Lower inner quadrant of breast"),
    Quadrant.CENTRAL: CodedConcept("129786000", "SCT", "Central region of breast"),
}

DCM = codes.DCM
SOURCE_IMAGE = CodedConcept("260753009", "SCT", "Source")
PERCENT = CodedConcept("%", "UCUM", "Percent")
MICROMETRE = CodedConcept("um", "UCUM", "micrometer")
NO_UNITS = CodedConcept("1", "UCUM", "no units")
YES = CodedConcept("373066001", "SCT", "Yes")
NO = CodedConcept("373067005", "SCT", "No")
BREAST = CodedConcept("76752008", "SCT", "Breast")
MAMMOGRAPHY = CodedConcept("71651007", "SCT", "Mammography")
ENGLISH = CodedConcept("en-US", "RFC5646", "English (United States)")

#: Exam-level concepts without a DICOM code (the companion SR, TID 1500).
TRIAGE_FLAG = CodedConcept("flag", SCHEME, "Triage flag")
CASE_SCORE = CodedConcept("case-score", SCHEME, "Case score")
OPERATING_POINT = CodedConcept("operating-point", SCHEME, "Triage operating point")
ASYMMETRY_SCORE = CodedConcept("asymmetry-score", SCHEME, "Left-right asymmetry score")
DENSITY = CodedConcept("density", SCHEME, "Breast composition (BI-RADS density)")
ABOVE_ASYMMETRY_POINT = CodedConcept("asymmetry-above", SCHEME, "Above the asymmetry operating point")
ASYMMETRY_WINDOW_WIDTH = CodedConcept("asym-win-width", SCHEME, "Asymmetry window width")
ASYMMETRY_WINDOW_HEIGHT = CodedConcept("asym-win-height", SCHEME, "Asymmetry window height")
#: CID 6016/6017 mammography finding: the finding type of the asymmetry region groups
ASYMMETRIC_BREAST_TISSUE = CodedConcept("129790003", "SCT", "Asymmetric breast tissue")
MILLIMETRE = CodedConcept("mm", "UCUM", "millimeter")

#: BI-RADS assessment category -> CID 6026 "Mammography Assessment" (its CID 6027 "Assessment from BI-RADS"
#: members: SNOMED CT for 1-5, the BI-RADS scheme "BI" version 4.0 for 4A/4B/4C)
ASSESSMENT = {
    BiradsCategory.NEGATIVE: CodedConcept("397140005", "SCT", "1 - Negative"),
    BiradsCategory.BENIGN: CodedConcept("397141009", "SCT", "2 - Benign"),
    BiradsCategory.PROBABLY_BENIGN: CodedConcept("397143007", "SCT", "3 - Probably Benign"),
    BiradsCategory.SUSPICIOUS_LOW: CodedConcept("MA.II.A.5.4A", "BI", "4A - Low suspicion", "4.0"),
    BiradsCategory.SUSPICIOUS_MODERATE: CodedConcept("MA.II.A.5.4B", "BI", "4B - Intermediate suspicion", "4.0"),
    BiradsCategory.SUSPICIOUS_HIGH: CodedConcept("MA.II.A.5.4C", "BI", "4C - Moderate suspicion", "4.0"),
    BiradsCategory.HIGHLY_SUGGESTIVE: CodedConcept("397145000", "SCT", "5 - Highly suggestive of malignancy"),
}
#: Concept name of the laterality modifier (TID 4002 "Laterality", CID 6022 values)
LATERALITY_NAME = CodedConcept("272741003", "SCT", "Laterality")
#: CID 6014/6016 Calcification Cluster (the retired DCM 111105 is no longer in CID 6014)
CALCIFICATION_CLUSTER = CodedConcept("129769006", "SCT", "Calcification Cluster")
#: CID 6043 analysis types: the CC-MLO pairing (composite features) and the overall assessment
SPATIAL_COLLOCATION = CodedConcept("133884007", "SCT", "Spatial collocation analysis")

#: pydicom's meanings of these three hold a zero-width space (not in the SR's character set)
INDIVIDUAL_IMPRESSION = CodedConcept("111034", "DCM", "Individual Impression/Recommendation")
INDIVIDUAL_IMPRESSION_ANALYSIS = CodedConcept("111233", "DCM", "Individual Impression/Recommendation Analysis")
OVERALL_IMPRESSION_ANALYSIS = CodedConcept("111234", "DCM", "Overall Impression/Recommendation Analysis")
