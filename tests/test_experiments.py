"""Experiments: identity of runs, the resumable cache, local vs Dask executors, bad configs."""

import json

import pytest
from skips import skip_without

from scaledetect import NetSpec, Perturbation, ScaleDetectError, TaskSpec
from scaledetect.cli import main
from scaledetect.experiments import KINDS, Cache, Run, run_all
from scaledetect.experiments import runner as runner_mod
from scaledetect.studies import plans, preset_runs

TASK = TaskSpec(dim=1, size=16, xi=8)
NET = NetSpec(dim=1, size=16, depth=3, filter=2, stride=2, width=1, bias=False)


def _runs():
    return [Run("pooling", TASK, NET, probe=400, seed=s) for s in range(3)]


def test_key_is_the_configuration_and_survives_json():
    r = Run("pooling", TASK, NET, probe=400, seed=0)
    again = Run.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.key == r.key
    assert Run("pooling", TASK, NET, probe=400, seed=1).key != r.key
    assert Run("pooling", TASK, NET, Perturbation(noise_match="sample"), probe=400).key != r.key


def test_cache_resumes_after_interruption(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    calls = []
    real = runner_mod.execute
    interrupt = [True]

    def flaky(run_dict, *args):
        calls.append(run_dict["seed"])
        if len(calls) == 2 and interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt  # simulated interruption while the 2nd run is in flight
        return real(run_dict, *args)

    monkeypatch.setattr(runner_mod, "execute", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_all(_runs(), cache, progress=False)
    finished = [r for r in _runs() if r.key in cache]
    assert len(finished) == 1  # the first run was stored the moment it ended
    calls.clear()
    results = run_all(_runs(), cache, progress=False)
    assert sorted(calls) == sorted(r.seed for r in _runs() if r not in finished)  # nothing redone
    assert set(results) == {r.key for r in _runs()}


def test_dask_local_cluster_gives_identical_results(tmp_path):
    skip_without("dask")
    runs = _runs()[:2]
    local = run_all(runs, Cache(tmp_path / "local"), progress=False)
    dask = run_all(runs, Cache(tmp_path / "dask"), workers=2, executor="dask", progress=False)
    for k in local:
        # same seeds -> bit-identical numbers
        assert local[k].record.sens.to_dict() == dask[k].record.sens.to_dict()


def test_process_pool_gives_identical_results(tmp_path):
    runs = _runs()[:2]
    serial = run_all(runs, Cache(tmp_path / "a"), progress=False)
    pooled = run_all(runs, Cache(tmp_path / "b"), workers=2, progress=False)
    assert all(serial[k].record.sens.to_dict() == pooled[k].record.sens.to_dict()
               for k in serial)


@pytest.mark.parametrize("argv, name", [
    (["--preset", "bogus"], "preset"),
    (["--executor", "spark"], "executor"),
    (["--workers", "0"], "workers"),
    (["--scheduler", "tcp://127.0.0.1:1"], "scheduler"),
])
def test_bad_reproduce_config_fails_before_any_work(tmp_path, capsys, argv, name):
    out = tmp_path / "out"
    assert main(["reproduce", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert name in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written


def test_run_all_rejects_bad_arguments(tmp_path):
    with pytest.raises(ScaleDetectError, match="workers"):
        run_all(_runs(), Cache(tmp_path), workers=0)
    with pytest.raises(ScaleDetectError, match="kind"):
        Run("magic", TASK, NET)


def test_presets_build_valid_runs():
    for name in ("tiny", "quick", "paper"):
        runs = preset_runs(name)
        assert {"fig2_init_vs_trained", "fig3_strided", "fig4_unstrided"} <= set(runs)
        for run in (r for rs in runs.values() for r in rs):
            assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    # the trained-network claims rest on >= 5 ReLU seeds in quick
    assert len(plans("quick")["trained_claims"].relu) >= 5


def test_every_kind_is_registered_with_its_record_and_roots():
    assert set(KINDS) == {"theory", "nngp", "pooling", "init", "train", "deep"}
    for kind in KINDS.values():
        assert kind.roots and kind.computes and callable(kind.cost)
        assert kind.trains == (kind.epochs is not None)
    # a run carries the training spec its kind names, and nothing else
    with pytest.raises(ScaleDetectError, match="train must be None"):
        Run("pooling", TASK, NET, train=KINDS["train"].train_spec())
    with pytest.raises(ScaleDetectError, match="train must be a TrainSpec"):
        Run("train", TASK, NET)
