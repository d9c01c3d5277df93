"""Exam-level risk: 1-5-year risk (Mirai's contract), left-right asymmetry (AsymMirai) and breast density."""

from .input import INPUT_SHAPE, RISK_INPUT, VIEW_ORDER, BreastBox, Projection, breast_box, prepare_view, register_view
from .picture import render_asymmetry, write_asymmetry
from .stage import (AsymmetryFinding, AsymmetryWindow, DensityAssessment, DensityCategory, FactorName, FactorSource,
                    RiskAssessment, RiskFactor, RiskModel, RiskStatus, calibrate)

__all__ = ["INPUT_SHAPE", "RISK_INPUT", "VIEW_ORDER", "AsymmetryFinding", "AsymmetryWindow", "BreastBox",
           "DensityAssessment", "DensityCategory", "FactorName", "FactorSource", "Projection", "RiskAssessment",
           "RiskFactor", "RiskModel", "RiskStatus", "breast_box", "calibrate", "prepare_view", "register_view",
           "render_asymmetry", "write_asymmetry"]
