"""Cluster morphology: BI-RADS morphology class, suggested category, calibrated likelihood, uncertainty, saliency."""

from .birads import RULE, suggest
from .classify import MorphologyAssessment, MorphologyClassifier, Saliency
from .saliency import render_saliency, write_saliency

__all__ = ["RULE", "MorphologyAssessment", "MorphologyClassifier", "Saliency", "render_saliency", "suggest",
           "write_saliency"]
