"""From a read mammogram to the models' input space."""

from .intensity import standardize_intensity
from .normalize import NormalizedView, normalize
from .transform import ViewTransform

__all__ = ["normalize", "standardize_intensity", "NormalizedView", "ViewTransform"]
