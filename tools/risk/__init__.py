"""Risk model lab: the simulated cohort, a four-view risk model, export, calibration and evaluation."""
