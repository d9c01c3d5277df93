"""Errors of the biopsy stage: a missing or impossible geometry, a refused stereo set, no target."""

from __future__ import annotations

import enum

from ..errors import InputError


class Refusal(enum.StrEnum):
    """Why a set of images is not one stereotactic set."""

    COUNT = "count"  #: not exactly one +theta and one -theta image (and at most one scout)
    ROLE = "role"  #: Image Type value 3 disagrees with the angle
    STUDY = "study"
    LATERALITY = "laterality"
    COMPRESSION = "compression"  #: thickness or frame of reference differ
    ANGLES = "angles"  #: not +theta/-theta, or the scout not at 0
    GEOMETRY = "geometry"  #: unit kind, source distance, rotation axis or detector differ


class BiopsyError(InputError):
    """A stereotactic set cannot give a target; the images are kept."""

    reason = "biopsy"


class GeometryError(BiopsyError):
    """A geometry attribute is missing or out of range; the message names it and the rule."""

    reason = "biopsy-geometry"


class StereoSetError(BiopsyError):
    """The images are not one stereotactic set (laterality, thickness, study, angles); the message says why."""

    reason = "stereo-set"

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(f"not one stereotactic set ({refusal.value}): {message}")
        self.refusal = refusal


class NoTargetError(BiopsyError):
    """No cluster could be matched between the two stereo views."""

    reason = "no-target"
