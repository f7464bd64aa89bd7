"""Results cache keyed by configuration and code version; training resumes from checkpoints."""

import numpy as np
import pytest

from scaledetect.experiments import KINDS, Cache, execute, run_all
from scaledetect.studies import plans


def results_version(kind: str) -> str:
    return KINDS[kind].version()


def _names(kind: str) -> set[str]:
    return {p.relative_to(p.parents[1]).as_posix() if p.parent.name != "scaledetect"
            else p.name for p in KINDS[kind].source_files()}


def test_versions_follow_the_imports_of_each_kind():
    theory, train = _names("theory"), _names("train")
    # what computes the numbers is covered ...
    assert {"theory/exact.py", "tasks/render.py", "perturb/shift.py", "experiments/runner.py"
            } <= theory
    assert {"nn/train.py", "_kernels/conv.py", "sensitivity/measure.py", "nn/losses.py"} <= train
    # ... but not what only draws or reports them, nor the CLI
    for names in (theory, train):
        assert not any(n.startswith(("plots/", "commands/")) for n in names)
        assert "experiments/report.py" not in names and "cli.py" not in names
    assert "_kernels/conv.py" not in theory  # exact theory does not run the CNN
    assert results_version("pooling") == results_version("init")  # same code
    assert len({results_version(k) for k in ("theory", "pooling", "train")}) == 3


def test_result_of_other_code_is_not_reused(tmp_path):
    run = next(r for r in plans("tiny")["fig3_strided"].theory if r.task.dim == 1)
    cache = Cache(tmp_path)
    result, arrays = execute(run.to_dict())
    assert result["version"] == results_version("theory")
    cache.put(run.key, {**result, "version": "0123456789ab"}, arrays)  # from older code
    assert run.key not in cache
    cache.put(run.key, {**result, "schema": 0}, arrays)  # another record layout
    assert run.key not in cache
    fresh = run_all([run], cache, progress=False)[run.key]
    assert fresh.version == results_version("theory") and run.key in cache
    cache.drop(run.key)
    assert run.key not in cache and not list(tmp_path.glob(f"{run.key}*"))


def _strip_times(history: dict) -> dict:
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in history["records"]]
    return {**history, "records": records, "wall_time": None,
            "final": {k: v for k, v in history["final"].items() if k != "seconds"}}


class _Stop(Exception):
    pass


def test_training_killed_mid_run_resumes_with_identical_results(tmp_path):
    # the tiny tanh runs train for about 100 epochs; they checkpoint every 10, so an interruption
    # at epoch 25 loses epochs 21-25, which the resumed run does again from the checkpoint
    run = plans("tiny")["fig5_relu_vs_tanh"].tanh[0]
    cache = Cache(tmp_path / "cache")
    whole, whole_arrays = execute(run.to_dict(), tmp_path / "uninterrupted")

    def stop_at_25(epoch):
        if epoch == 25:
            raise _Stop

    workdir = cache.workdir(run)
    with pytest.raises(_Stop):
        execute(run.to_dict(), workdir, stop_at_25)
    assert (workdir / "checkpoint.npz").exists() and run.key not in cache
    seen = []
    resumed, resumed_arrays = execute(run.to_dict(), workdir, seen.append)
    assert seen[0] == 21  # continued after the checkpoint of epoch 20, not from scratch
    resumed, whole = resumed["record"], whole["record"]
    assert resumed["history"]["epochs"] == whole["history"]["epochs"] > 25
    assert resumed["trained"] == whole["trained"] and resumed["init"] == whole["init"]
    assert _strip_times(resumed["history"]) == _strip_times(whole["history"])
    assert resumed_arrays.keys() == whole_arrays.keys()
    for name in whole_arrays:
        np.testing.assert_array_equal(resumed_arrays[name], whole_arrays[name])
