"""Stereotactic biopsy targeting: a +/-theta stereo set -> the 3-D target of a calcification cluster (docs/biopsy.md).

``stage.run_biopsy(datasets, detect, config)`` is the entry; ``detect.detect_view`` is its one door to the
shipped detector; geometry, set recognition, matching and triangulation import nothing but numpy/pydicom.
"""
