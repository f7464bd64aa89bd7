"""Training the architectures: a LeNet learns the two-point task, resume is bit-identical,
model files round-trip without pickle and bad files are refused."""

import json

import numpy as np
import pytest
from skips import skip_without

torch = skip_without("torch")

from scaledetect.deep.io import is_arch_model, load_arch_model, save_arch_model  # noqa: E402
from scaledetect.deep.train import DeepTrainSpec, train_arch  # noqa: E402
from scaledetect.errors import ScaleDetectError  # noqa: E402
from scaledetect.nn import init_cnn, save_model  # noqa: E402
from scaledetect.nn.spec import NetSpec  # noqa: E402
from scaledetect.tasks import TaskSpec  # noqa: E402

# The two-point task of Petrini et al.: side 28, xi 14, gap 2, L2, image mean 1.
TASK = TaskSpec(dim=2, size=28, rule="distance", xi=14, gap=2, norm="l2", amplitude="mean")


def test_lenet_learns_two_point_task():
    # Measured: seed 0 reaches 5.8% test error by epoch 7 (lr 0.01, cosine over 10 epochs),
    # about 3 CPU seconds; chance is 50%.
    r = train_arch(TASK, DeepTrainSpec(arch="lenet", epochs=10), rng=0, progress=False,
                   threads=1)
    assert r.test_error < 0.10
    records = r.history.records
    assert records[0].test_error > 0.3  # it was not solved at initialization
    assert records[r.best_epoch].test_error == min(h.test_error for h in records)


def _arrays(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("arch,wf,noise", [("lenet", 0.5, 0.0), ("alexnet", 1 / 16, 0.1)])
def test_resume_equals_uninterrupted(tmp_path, arch, wf, noise):
    # AlexNet has dropout (torch generator) and the noisy run draws training noise every epoch:
    # the checkpoint must restore every stream.
    spec = DeepTrainSpec(arch=arch, width_factor=wf, n_train=192, n_test=64, batch_size=32,
                         epochs=4, checkpoint_every=1, train_noise=noise)
    full = train_arch(TASK, spec, rng=5, out_dir=tmp_path / "a", progress=False, threads=1)

    def stop(epoch, rec):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_arch(TASK, spec, rng=5, out_dir=tmp_path / "b", progress=False, threads=1,
                   callback=stop)
    with pytest.raises(ScaleDetectError, match="already holds a run"):
        train_arch(TASK, spec, rng=5, out_dir=tmp_path / "b", progress=False)
    res = train_arch(TASK, spec, rng=5, out_dir=tmp_path / "b", progress=False, threads=1,
                     resume=True)
    for a, b in ((full.final, res.final), (full.model, res.model)):
        for k, v in _arrays(a).items():
            np.testing.assert_array_equal(v, _arrays(b)[k], err_msg=k)
    drop = [{k: v for k, v in h.to_dict().items() if k != "seconds"} for h in full.history.records]
    assert drop == [{k: v for k, v in h.to_dict().items() if k != "seconds"}
                    for h in res.history.records]
    with pytest.raises(ScaleDetectError, match="differ"):
        train_arch(TASK, DeepTrainSpec(**{**spec.to_dict(), "lr": 0.5}), rng=5,
                   out_dir=tmp_path / "b", progress=False, resume=True)


def test_save_load_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    from scaledetect.deep.archs import build

    net = build("vgg11bn", 0.125, 28).eval()
    cfg = {"arch": "vgg11bn", "width_factor": 0.125, "size": 28, "task": TASK.to_dict()}
    save_arch_model(tmp_path / "m.npz", net, cfg)
    assert is_arch_model(tmp_path / "m.npz")
    back, config = load_arch_model(tmp_path / "m.npz")
    assert config["arch"] == "vgg11bn" and config["task"] == TASK.to_dict()
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(back(x), net(x))
    arrays = dict(np.load(tmp_path / "m.npz"))
    # numba models are not arch models
    save_model(tmp_path / "numba.npz", init_cnn(NetSpec(dim=2, size=8, depth=2, width=2), 0))
    assert not is_arch_model(tmp_path / "numba.npz")
    # a pickled (object) array is refused, never unpickled
    np.savez(tmp_path / "p.npz", config=arrays["config"], evil=np.array([{"a": 1}], object))
    with pytest.raises(ScaleDetectError, match="refused"):
        load_arch_model(tmp_path / "p.npz")
    with pytest.raises(ScaleDetectError, match="refused"):
        is_arch_model(tmp_path / "p.npz")
    # a wrong shape, a missing array, an unknown arch
    bad = {**arrays, "classifier.weight": np.zeros((1, 3), np.float32)}
    np.savez(tmp_path / "s.npz", **bad)
    with pytest.raises(ScaleDetectError, match=r"classifier.weight must have shape \(1, 64\)"):
        load_arch_model(tmp_path / "s.npz")
    np.savez(tmp_path / "g.npz", **{k: v for k, v in arrays.items() if k != "classifier.bias"})
    with pytest.raises(ScaleDetectError, match="missing"):
        load_arch_model(tmp_path / "g.npz")
    c = json.loads(str(arrays["config"]))
    np.savez(tmp_path / "u.npz", **{**arrays, "config": np.array(json.dumps({**c, "arch": "x"}))})
    with pytest.raises(ScaleDetectError, match="arch must be one of"):
        load_arch_model(tmp_path / "u.npz")
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(ScaleDetectError, match="not a readable"):
        load_arch_model(tmp_path / "t.npz")


def test_spec_and_device_errors():
    with pytest.raises(ScaleDetectError, match="width_factor"):
        DeepTrainSpec(arch="vgg11", width_factor=0)
    with pytest.raises(ScaleDetectError, match="arch"):
        DeepTrainSpec(arch="vgg12")
    with pytest.raises(ScaleDetectError, match="size must be an integer >= 28"):
        train_arch(TaskSpec(dim=2, size=16, rule="distance", xi=4), DeepTrainSpec(arch="vgg11"),
                   progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ScaleDetectError, match="device"):
            train_arch(TASK, DeepTrainSpec(arch="lenet"), device="cuda", progress=False)
