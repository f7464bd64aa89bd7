"""Typed results: every record and the result envelope survive a JSON + npz round trip exactly."""

import json

import numpy as np
import pytest

from scaledetect import ScaleDetectError, Sensitivities, TaskSpec
from scaledetect.experiments import KINDS, Run, RunResult
from scaledetect.experiments.records import DeepTrained, FilterStats, Profile, RandomNet, Trained
from scaledetect.nn import NetSpec, TrainSpec, init_cnn
from scaledetect.training import EpochRecord, TrainHistory

TASK = TaskSpec(size=16, xi=4)
NET = NetSpec(size=16, depth=2, width=3)


def _sens(seed: int, se: bool = True, named: bool = False) -> Sensitivities:
    g = np.random.default_rng(seed)
    v = [g.random(4) for _ in range(6)]
    v[0][1] = np.nan  # an undefined layer (den = 0) is null in JSON, NaN again when read
    return Sensitivities(layers=(0, 1, 2, "out"), D=v[0], G=v[1], R=v[2],
                         D_se=v[3] if se else None, G_se=v[4] if se else None,
                         R_se=v[5] if se else None, config={"seed": seed},
                         names=("input", "a", "b", "out") if named else None,
                         depths=(0.0, 0.25, 0.5, 1.0) if named else None)


def _history() -> TrainHistory:
    records = (EpochRecord(0, 0.1, 0.9, 0.5, test_error=0.5, seconds=0.0),
               EpochRecord(3, 0.1, 0.2, 0.0, test_error=0.03, seconds=1.5))
    return TrainHistory({"seed": 1}, records, 3, 3, "interpolate", "last", 3, 1.5)


def _same(a, b):
    assert json.dumps(a.to_json()[0], sort_keys=True) == json.dumps(b.to_json()[0],
                                                                     sort_keys=True)
    arrays_a, arrays_b = a.to_json()[1], b.to_json()[1]
    assert arrays_a.keys() == arrays_b.keys()
    for k in arrays_a:
        np.testing.assert_array_equal(arrays_a[k], arrays_b[k])


@pytest.mark.parametrize("se, named", [(True, False), (False, False), (True, True)])
def test_sensitivities_from_dict_round_trips(se, named):
    s = _sens(0, se, named)
    d = json.loads(json.dumps(s.to_dict()))
    again = Sensitivities.from_dict(d)
    assert again.to_dict() == d
    np.testing.assert_array_equal(again.G, s.G)  # finite values exactly, NaN as NaN
    assert np.isnan(again.D[1]) and again.names == s.names and again.depths == s.depths


def test_every_record_round_trips_through_json_and_npz():
    model = init_cnn(NET, 0)
    stats = FilterStats.of(model)
    records = [Profile(_sens(1)), RandomNet(_sens(2), stats),
               Trained(_sens(3), _sens(4), _sens(5), _sens(6), _history(), stats, stats),
               DeepTrained(_sens(7, named=True), _sens(8, named=True), _sens(9, named=True),
                           _history(), FilterStats(stats.spectra), FilterStats(stats.spectra))]
    for record in records:
        body, arrays = record.to_json()
        again = type(record).from_json(json.loads(json.dumps(body)), arrays)
        _same(record, again)
    # the constant-mode fraction is the uniform share of each layer's filters (psi_0 const)
    np.testing.assert_allclose(stats.constant_fraction(), stats.uniform_share, rtol=1e-12)


def test_the_envelope_names_its_schema_and_its_kind_reads_it():
    run = Run("train", TASK, NET, probe=64, seed=2, train=TrainSpec(n_train=8, n_test=8))
    stats = FilterStats.of(init_cnn(NET, 0))
    record = Trained(_sens(3), _sens(4), _sens(5), _sens(6), _history(), stats, stats)
    body, arrays = RunResult(run, "abc", 1.25, record).to_json()
    kind = KINDS[body["run"]["kind"]]
    again = RunResult.from_json(json.loads(json.dumps(body)), arrays,
                                Run.from_dict(body["run"]), kind.record)
    assert again.run == run and again.version == "abc" and again.seconds == 1.25
    _same(again.record, record)
    assert again.record.test_error == 0.03  # the kept model: the last record (selection last)
    with pytest.raises(ScaleDetectError, match="schema"):
        RunResult.from_json({**body, "schema": 0}, arrays, run, kind.record)
