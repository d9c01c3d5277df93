"""The exam pipeline: the only module that combines every stage (models loaded once, per view, per exam)."""

from .exam import ExamPipeline, ExamRun, NoViewError, Step
from .files import Rejected, group_by_study, list_files
from .models import ExamModels, load_detector, shared_models
from .views import ViewStore
from .outputs import overlay_names, write_exam_outputs

__all__ = ["ExamModels", "ExamPipeline", "ExamRun", "NoViewError", "Rejected", "Step", "group_by_study", "list_files",
           "ViewStore", "load_detector", "overlay_names", "shared_models", "write_exam_outputs"]
