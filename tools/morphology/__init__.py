"""The cluster morphology model: BI-RADS morphology classes and a malignancy likelihood (training only)."""
