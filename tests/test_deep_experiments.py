"""The ``deep`` run kind: identity without a NetSpec, the report's verdicts, one tiny run."""

import json

import numpy as np
import pytest
from skips import needs

from scaledetect import Sensitivities
from scaledetect.errors import ScaleDetectError
from scaledetect.experiments import Run, RunResult
from scaledetect.nn.spec import NetSpec
from scaledetect.studies import Results, plans
from scaledetect.studies.standard import DEEP_TASK, DeepPlan, deep_claims

pytestmark = needs("torch")


def test_deep_run_identity():
    runs = plans("quick")["fig9_architectures"].deep
    r = runs[0]
    assert r.net is None and r.train.arch == "lenet"
    again = Run.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.key == r.key
    assert len({x.key for x in runs}) == 6  # 3 architectures x 2 seeds
    with pytest.raises(ScaleDetectError, match="net must be None"):
        Run("deep", DEEP_TASK, NetSpec(dim=2, size=28, depth=2), train=r.train)
    with pytest.raises(ScaleDetectError, match="net must be a NetSpec"):
        Run("train", DEEP_TASK, None)


def _sens(depths, D, R):
    names = tuple(f"n{i}" for i in range(len(D)))
    return Sensitivities(layers=(*range(len(D) - 1), "out"), D=np.asarray(D, float),
                         G=np.asarray(D, float) / R, R=np.asarray(R, float), names=names,
                         depths=tuple(depths))


class _Record:
    def __init__(self, D_tr, D_sh, R_tr, R_in, err):
        depths = np.linspace(0, 1, len(D_tr))
        flat = np.ones(len(D_tr))
        self.init, self.trained = _sens(depths, flat, R_in), _sens(depths, D_tr, R_tr)
        self.shuffled = _sens(depths, D_sh, R_tr)
        self.test_error = err


def _results(runs, make) -> Results:
    return Results({r.key: RunResult(r, "test", 0.0, make(i)) for i, r in enumerate(runs)})


def test_claims_verdicts():
    # 9 nodes at depths 0, 1/8, ..., 1: trained D halves along the net; shuffling keeps the first
    # half (ratio 1) and doubles the second; R_out drops 10x: every row is yes.
    d = 0.5 ** np.arange(9)
    sh = np.where(np.linspace(0, 1, 9) > 0.5, 2 * d, d)
    r_in, r_tr = np.ones(9), np.full(9, 0.1)
    spec = plans("quick")["fig9_architectures"].deep[2].train  # vgg11
    plan = DeepPlan(tuple(Run("deep", DEEP_TASK, seed=s, train=spec) for s in range(2)))

    def verdicts(make):
        return [c.verdict for c in deep_claims(plan, _results(plan.deep, make))[0].claims]

    assert verdicts(lambda i: _Record(d, sh, r_tr, r_in, 0.02)) == ["yes", "yes", "yes"]
    # no fall with depth, shuffling changes the first half, R up: every row is no
    up = np.ones(9)
    assert verdicts(lambda i: _Record(up, 2 * up, r_in, r_tr, 0.02)) == ["no", "no", "no"]
    # two seeds that disagree (R_out ratio 0.1 and 2: log10 -1 and 0.3; the 95% t interval
    # with 1 degree of freedom, mean -0.35 +- 12.7 * 0.65, straddles log10 0.5): inconclusive
    assert verdicts(lambda i: _Record(d, sh, r_tr if i == 0 else np.full(9, 2.0), r_in,
                                      0.02))[0] == "inconclusive"
    # nets that did not learn are no evidence: no interval, inconclusive, and said so
    claim = deep_claims(plan, _results(plan.deep, lambda i: _Record(d, sh, r_tr, r_in, 0.4))
                        )[0].claims[0]
    assert claim.verdict == "inconclusive" and "0/2 seeds learned" in claim.evidence
    assert deep_claims(plan, Results({})) == []


def test_tiny_deep_run_executes():
    from scaledetect.experiments.runner import execute

    run = plans("tiny")["fig9_architectures"].deep[0]
    body, arrays = execute(run.to_dict())
    assert arrays == {}
    record = body["record"]
    names = [row["name"] for row in record["trained"]["layers"]]
    assert names[0] == "input" and names[1] == "features.0" and names[-1] == "classifier.4"
    depths = [row["depth"] for row in record["trained"]["layers"]]
    assert depths[0] == 0 and depths[-1] == 1 and depths == sorted(depths)
    # LeNet's first conv has one input channel: shuffling (mode 1) leaves it exactly unchanged
    assert record["shuffled"]["layers"][1]["D"] == record["trained"]["layers"][1]["D"]
    assert len(record["history"]["records"]) == run.train.epochs + 1
