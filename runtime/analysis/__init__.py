"""Analysis of a normalized view: tiled detection, calcifications, clusters with BI-RADS descriptors, triage."""

from .clusters import Cluster, Distribution, counts_toward_flag, find_clusters
from .geometry import DepthThird, NoBreastError, Quadrant, clock_position, image_to_map, map_to_image, nipple_position
from .overlay import overlay_base, render_overlay, write_overlay
from .peaks import Calcification, extract_calcifications
from .tiling import ProbabilityMap, TilePlan, detect_map, plan_tiles
from .triage import BreastAssessment, ClusterLocation, Triage, assess, rule_text
from .view import StageTiming, ViewAnalysis, analyze_map, analyze_view, view_score

__all__ = [
    "BreastAssessment", "Calcification", "Cluster", "ClusterLocation", "DepthThird", "Distribution", "NoBreastError",
    "ProbabilityMap", "Quadrant", "StageTiming", "TilePlan", "Triage", "ViewAnalysis", "analyze_map", "analyze_view",
    "assess",
    "clock_position", "counts_toward_flag", "detect_map", "extract_calcifications", "find_clusters", "image_to_map",
    "map_to_image", "nipple_position", "overlay_base", "plan_tiles", "render_overlay", "rule_text", "view_score", "write_overlay",
]
