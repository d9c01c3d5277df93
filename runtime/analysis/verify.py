"""Cluster verification: the probability that a candidate cluster is made of real calcifications.

The detector runs at a low peak threshold so that faint clusters form; most
of the candidate clusters it then forms lie on dense tissue or noise. The
verifier, a small CNN over the same ROIs the morphology model sees, tells real
clusters (suspicious or benign) from false ones; a cluster's suspicion is its
verified probability times its distribution weight, and candidates below
``verifier_threshold`` are not reported (their calcifications stay in the list).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from ..inference import CompiledModel
from ..morphology.roi import crop_roi, roi_centres, standardize_roi


class ClusterVerifier:
    """Wraps the compiled verifier model (one logit per ROI; a cluster's is the mean over its ROIs)."""

    def __init__(self, model: CompiledModel) -> None:
        outputs = [o.name for o in model.entry.outputs]
        if "logits" not in outputs:
            raise ModelError(f"model {model.entry.name} {model.entry.version}: a cluster verifier needs a 'logits' "
                             f"output; it has {outputs}")
        self.model = model

    def probabilities(self, image: np.ndarray, points_xy: Sequence[np.ndarray], scores: Sequence[np.ndarray]
                      ) -> np.ndarray:
        """P(real cluster) per cluster, from its members' positions (normalized px) and detector scores."""
        if not len(points_xy):
            return np.zeros(0)
        centres = [roi_centres(p, s) for p, s in zip(points_xy, scores)]
        rois = np.stack([standardize_roi(crop_roi(image, c)) for cs in centres for c in cs])[:, None]
        logits = self.model.infer(rois)["logits"][:, 0]
        bounds = np.cumsum([0] + [len(cs) for cs in centres])
        means = np.array([logits[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])])
        return 1.0 / (1.0 + np.exp(-means))
