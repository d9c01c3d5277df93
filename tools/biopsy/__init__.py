"""The lab's side of stereotactic biopsy targeting: held-out stereo phantoms, evaluation, benchmark."""
