"""Analysis of a normalized view: tiled detection, calcifications, clusters with BI-RADS descriptors, triage."""

from .clusters import Cluster, Distribution, counts_toward_flag, find_clusters
from .geometry import DepthThird, NoBreastError, Quadrant, clock_position, image_to_map, map_to_image, nipple_position
from .overlay import render_overlay, write_overlay
from .peaks import Calcification, extract_calcifications
from .tiling import ProbabilityMap, TilePlan, detect_map, plan_tiles
from .triage import BreastAssessment, ClusterLocation, Triage, assess, rule_text
from .verify import ClusterVerifier
from .view import (
    AnalysisModels, StageTiming, ViewAnalysis, analyze_normalized, analyze_view, load_detector, load_models, load_morphology,
    load_verifier,
)

__all__ = [
    "AnalysisModels", "BreastAssessment", "Calcification", "Cluster", "ClusterLocation", "ClusterVerifier", "DepthThird", "Distribution", "NoBreastError",
    "ProbabilityMap", "Quadrant", "StageTiming", "TilePlan", "Triage", "ViewAnalysis", "analyze_normalized",
    "analyze_view", "assess", "counts_toward_flag", "clock_position", "detect_map", "extract_calcifications", "find_clusters",
    "image_to_map", "load_detector", "load_models", "load_morphology", "load_verifier", "map_to_image", "nipple_position", "plan_tiles", "render_overlay", "rule_text", "write_overlay",
]
