"""Which images of a study the service sends to the biopsy stage (hand-made headers, no pixels)."""

from __future__ import annotations

from biopsy_headers import header, stereo_headers
from pydicom.dataset import Dataset

from mammoedge.runtime.biopsy.route import marked_role, split_study
from mammoedge.runtime.biopsy.stereo_set import StereoRole
from mammoedge.runtime.config import BiopsyConfig

CONFIG = BiopsyConfig()


def screening(laterality: str, view: str, angle: float, thickness: float = 52.0) -> Dataset:
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.ImageLaterality, ds.ViewPosition = laterality, view
    ds.PositionerPrimaryAngle, ds.BodyPartThickness = f"{angle:.1f}", f"{thickness:.1f}"
    ds.FrameOfReferenceUID = f"9.9.{ord(laterality)}.{len(view)}.{int(abs(angle))}"
    return ds


def unmarked(ds: Dataset) -> Dataset:
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    return ds


def test_image_type_value_3_marks_the_stereo_images_among_screening_views():
    headers = [h for _, h in stereo_headers()] + [screening(lat, view, angle) for lat, view, angle in
                                                  (("R", "CC", 0), ("L", "CC", 0), ("R", "MLO", 45), ("L", "MLO", -45))]
    items = ["scout", "plus", "minus", "RCC", "LCC", "RMLO", "LMLO"]
    stereo, rest = split_study(items, headers, CONFIG)
    assert stereo == ["scout", "plus", "minus"] and rest == ["RCC", "LCC", "RMLO", "LMLO"]
    assert [marked_role(h) for h in headers[:3]] == [StereoRole.SCOUT, StereoRole.PLUS, StereoRole.MINUS]
    assert marked_role(headers[3]) is None and marked_role(Dataset()) is None


def test_without_value_3_a_plus_minus_theta_pair_of_one_breast_and_compression_is_stereo():
    scout, plus, minus = (unmarked(header(a)) for a in (0.0, 15.0, -15.0))
    other_cc = screening("L", "CC", 0.0, thickness=45.0)  # same breast and thickness, another compression (frame)
    stereo, rest = split_study(["cc", "scout", "plus", "minus"], [other_cc, scout, plus, minus], CONFIG)
    assert stereo == ["scout", "plus", "minus"] and rest == ["cc"]


def test_screening_views_alone_have_no_pair():
    # MLO views are at +/-45 deg but of two breasts; CC views at 0
    headers = [screening(lat, view, angle) for lat, view, angle in
               (("R", "CC", 0), ("L", "CC", 0), ("R", "MLO", 45), ("L", "MLO", -45))]
    assert split_study(list("abcd"), headers, CONFIG) == ([], list("abcd"))


def test_a_pair_under_two_compressions_or_of_unequal_angles_is_not_one():
    plus, minus = unmarked(header(15.0)), unmarked(header(-15.0, thickness=50.0))
    assert split_study(["p", "m"], [plus, minus], CONFIG) == ([], ["p", "m"])
    plus, minus = unmarked(header(15.0)), unmarked(header(-10.0))
    assert split_study(["p", "m"], [plus, minus], CONFIG) == ([], ["p", "m"])


def test_a_marked_but_mismatched_set_still_goes_to_the_stage_which_refuses_it():
    headers = [h for _, h in stereo_headers()]
    headers[2].ImageLaterality = "R"
    stereo, rest = split_study(["scout", "plus", "minus"], headers, CONFIG)
    assert stereo == ["scout", "plus", "minus"] and rest == []


def test_a_corrupt_image_type_is_not_marked():
    class Broken(Dataset):
        def get(self, *args: object, **kwargs: object) -> object:
            raise ValueError("mutated header")

    assert marked_role(Broken()) is None
