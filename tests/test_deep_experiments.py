"""The ``deep`` run kind: identity without a NetSpec, the report's verdicts, one tiny run."""

import json

import numpy as np
import pytest
from skips import skip_without

from scaledetect.errors import ScaleDetectError
from scaledetect.experiments.config import Run
from scaledetect.experiments.deep import DEEP_TASK, deep_claims, deep_runs
from scaledetect.nn.spec import NetSpec


def test_deep_run_identity():
    r = deep_runs("quick")[0]
    assert r.net is None and r.train["arch"] == "lenet"
    again = Run.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.key == r.key
    assert len({x.key for x in deep_runs("quick")}) == 6  # 3 architectures x 2 seeds
    with pytest.raises(ScaleDetectError, match="net must be None for kind=deep"):
        Run("deep", DEEP_TASK, NetSpec(dim=2, size=28, depth=2))
    with pytest.raises(ScaleDetectError, match="net must be None"):
        Run("train", DEEP_TASK, None)


def _sens(depths, D, R):
    return {"layers": [{"k": i, "depth": d, "D": v, "G": v / r, "R": r}
                       for i, (d, v, r) in enumerate(zip(depths, D, R, strict=True))]}


def _result(D_tr, D_sh, R_tr, R_in, err=0.02):
    depths = np.linspace(0, 1, len(D_tr))
    flat = np.ones(len(D_tr))
    return {"init": _sens(depths, flat, R_in), "trained": _sens(depths, D_tr, R_tr),
            "shuffled": _sens(depths, D_sh, R_tr), "history": {"test_error": err}}


def test_claims_verdicts():
    # 9 nodes at depths 0, 1/8, ..., 1: trained D halves along the net; shuffling keeps the first
    # half (ratio 1) and doubles the second; R_out drops 10x: every row is yes.
    d = 0.5 ** np.arange(9)
    sh = np.where(np.linspace(0, 1, 9) > 0.5, 2 * d, d)
    r_in, r_tr = np.ones(9), np.full(9, 0.1)
    runs = [Run("deep", DEEP_TASK, None, seed=s, train={"arch": "vgg11"}) for s in range(2)]
    results = {r.key: _result(d, sh, r_tr, r_in) for r in runs}
    assert [c[1] for c in deep_claims(runs, results)] == ["yes", "yes", "yes"]
    # no fall with depth, shuffling changes the first half, R up: every row is no
    up = np.ones(9)
    results = {r.key: _result(up, 2 * up, r_in, r_tr) for r in runs}
    assert [c[1] for c in deep_claims(runs, results)] == ["no", "no", "no"]
    # two seeds that disagree (R_out ratio 0.1 and 2: log10 -1 and 0.3; the 95% t interval
    # with 1 degree of freedom, mean -0.35 +- 12.7 * 0.65, straddles log10 0.5): inconclusive
    mixed = {runs[0].key: _result(d, sh, r_tr, r_in),
             runs[1].key: _result(d, sh, np.full(9, 2.0), r_in)}
    assert deep_claims(runs, mixed)[0][1] == "inconclusive"
    # nets that did not learn are no evidence: no interval, inconclusive, and said so
    results = {r.key: _result(d, sh, r_tr, r_in, err=0.4) for r in runs}
    claim = deep_claims(runs, results)[0]
    assert claim[1] == "inconclusive" and "0/2 seeds learned" in claim[2]
    assert deep_claims(runs, {}) == []


def test_tiny_deep_run_executes():
    skip_without("torch")
    from scaledetect.experiments.runner import execute

    run = deep_runs("tiny")[0]
    res, arrays = execute(run.to_dict())
    assert arrays == {}
    names = [row["name"] for row in res["trained"]["layers"]]
    assert names[0] == "input" and names[1] == "features.0" and names[-1] == "classifier.4"
    depths = [row["depth"] for row in res["trained"]["layers"]]
    assert depths[0] == 0 and depths[-1] == 1 and depths == sorted(depths)
    # LeNet's first conv has one input channel: shuffling (mode 1) leaves it exactly unchanged
    assert res["shuffled"]["layers"][1]["D"] == res["trained"]["layers"][1]["D"]
    assert len(res["history"]["records"]) == run.train["epochs"] + 1
