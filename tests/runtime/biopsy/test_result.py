"""The result record reads back as written and matches its JSON schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from mammoedge.runtime.biopsy.geometry import UnitKind
from mammoedge.runtime.biopsy.result import (SCHEMA_PATH, SCHEMA_VERSION, BiopsyResult, ChoiceRule,
                                             MatchedCalcification, Target, TargetWarning)
from mammoedge.runtime.codes import Laterality


def sample() -> BiopsyResult:
    match = MatchedCalcification(plus_px=(10.5, 20.25), minus_px=(300.0, 20.5), scout_px=None, x_mm=1.0, y_mm=-2.0,
                                 z_mm=30.5, ray_gap_mm=0.01, ambiguous=True, score=0.7)
    target = Target(x_mm=1.0, y_mm=-2.0, z_mm=30.5, sigma_x_mm=0.1, sigma_y_mm=0.2, sigma_z_mm=0.3, n_matches=1,
                    plus_px=(10.5, 20.25), minus_px=(300.0, 20.5), scout_px=(150.0, 20.0))
    return BiopsyResult(schema_version=SCHEMA_VERSION, unit=UnitKind.ISOCENTRIC, theta_deg=15.0,
                        laterality=Laterality.RIGHT, thickness_mm=45.0, choice=ChoiceRule.NEAREST_POINT, target=target,
                        matches=(match,), candidates=2, sigma_px=0.3,
                        warnings=(TargetWarning.FEW_MATCHES, TargetWarning.AMBIGUOUS_MATCHES), seconds=0.4)


def test_round_trip_through_json():
    result = sample()
    text = json.dumps(result.to_dict())
    assert BiopsyResult.from_dict(json.loads(text)) == result


def test_written_result_follows_the_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(sample().to_dict(), schema)
    broken = sample().to_dict()
    broken["warnings"] = ["not-a-warning"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = sample().to_dict()
    broken["target"]["patient_id"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
