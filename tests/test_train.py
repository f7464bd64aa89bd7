"""Training: losses, the SGD update, stopping rules, learning, resume == uninterrupted."""

import math
from dataclasses import replace

import numpy as np
import pytest

from scaledetect import NetSpec, ScaleDetectError, TaskSpec
from scaledetect.nn.losses import Loss, hinge, logistic
from scaledetect.nn.train import TrainSpec, _epoch, recipe_net, train

# ---------------------------------------------------------------------------- losses


def test_hinge_values_and_derivatives_at_known_margins():
    # (1/alpha) relu(1 - y out) with alpha = 2: margins 2, 0.5, -1, 1(kink), -0.5 (y=-1, out=0.5)
    out = np.array([2.0, 0.5, -1.0, 1.0, 0.5])
    y = np.array([1, 1, 1, 1, -1], dtype=np.int8)
    v, d = hinge(2.0)(out, y)
    np.testing.assert_array_equal(v, [0.0, 0.25, 1.0, 0.0, 0.75])
    # derivative -(y/alpha) where the margin is < 1, 0 at and beyond the kink (PyTorch's choice)
    np.testing.assert_array_equal(d, [0.0, -0.5, -0.5, 0.0, 0.5])


def test_logistic_matches_log1p_and_finite_differences():
    rng = np.random.default_rng(0)
    out = rng.normal(0, 3, 50)
    y = rng.choice([-1.0, 1.0], 50)
    alpha = 0.7
    v, d = logistic(alpha)(out, y)
    # independent reference, safe for |m| < 30: log1p(exp(-m)) / alpha
    np.testing.assert_allclose(v, np.log1p(np.exp(-y * out)) / alpha, rtol=1e-13)
    h = 1e-6  # central differences: error O(h^2) ~ 1e-12 relative to O(1) derivatives
    vp, _ = logistic(alpha)(out + h, y)
    vm, _ = logistic(alpha)(out - h, y)
    np.testing.assert_allclose(d, (vp - vm) / (2 * h), rtol=1e-6, atol=1e-9)


def test_logistic_is_stable_for_huge_margins():
    out = np.array([1e4, -1e4, 800.0], dtype=np.float32)
    y = np.array([1.0, 1.0, -1.0], dtype=np.float32)
    v, d = logistic(1.0)(out, y)
    assert v.dtype == np.float32 and d.dtype == np.float32
    # log(1 + e^-m) -> 0 for m -> +inf, -> -m for m -> -inf; derivative -y sigmoid(-m) -> 0 or -y
    np.testing.assert_allclose(v, [0.0, 1e4, 800.0], rtol=1e-7)
    np.testing.assert_allclose(d, [0.0, -1.0, 1.0], rtol=1e-7)


def test_loss_rejects_bad_parameters():
    # each message names the parameter, the constraint and the value received
    for call, message in [
        (lambda: Loss("square", 1.0), r"^loss must be one of hinge, logistic; got loss='square'$"),
        (lambda: hinge(0.0), r"^alpha must be a finite number > 0; got alpha=0.0$"),
        (lambda: hinge(1.0)(np.zeros(3), np.ones(4)),
         r"^y must have the shape \(n,\) of out .*; got y=\(4,\)$"),
    ]:
        with pytest.raises(ScaleDetectError, match=message):
            call()


# ---------------------------------------------------------------------------- TrainSpec

@pytest.mark.parametrize("kw, name", [
    ({"n_train": 0}, "n_train"), ({"batch_size": 2.5}, "batch_size"), ({"lr": -1.0}, "lr"),
    ({"momentum": 1.0}, "momentum"), ({"loss": "mse"}, "loss"),
    ({"weight_decay": -1e-3}, "weight_decay"), ({"wd_power": 3}, "wd_power"),
    ({"stop": "never"}, "stop"), ({"continue_factor": -1.0}, "continue_factor"),
    ({"dtype": "float16"}, "dtype"), ({"n_test": -1}, "n_test"),
    ({"record_every": 0}, "record_every"), ({"lr": float("nan")}, "lr"),
])
def test_trainspec_names_the_bad_parameter(kw, name):
    with pytest.raises(ScaleDetectError, match=rf"^{name} must .*got {name}="):
        TrainSpec(**kw)


def test_recipe_defaults_follow_spec_section_8():
    net = recipe_net()
    s = TrainSpec().resolved(net)
    # SPEC section 8: batch 8, lr 0.01 * width = 0.64, wd 0.01 / (width K) = 0.01/448, hinge, x20
    assert (s.batch_size, s.loss, s.wd_power, s.continue_factor) == (8, "hinge", 2, 20.0)
    assert s.lr == pytest.approx(0.64) and s.weight_decay == pytest.approx(0.01 / 448)
    assert (net.param, net.alpha, net.gain, net.bias) == ("mf", 1.0, math.sqrt(2), True)


def test_train_rejects_mismatched_task_and_net(tmp_path):
    with pytest.raises(ScaleDetectError, match="net.size"):
        train(TaskSpec(size=64, xi=16), NetSpec(size=32, depth=3, width=2),
              TrainSpec(n_train=8), 0, out_dir=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # nothing written


# ---------------------------------------------------------------------------- the update rule

class _Quadratic:
    """Stand-in model with known gradients: grad of every parameter = c * parameter."""

    def __init__(self, c):
        self.c = c
        self.theta = np.array([1.0, -2.0, 0.0, 3.0, 0.5, -0.5, 1.0])
        t = self.theta
        self.params = {"conv1.weight": t[0:3], "conv1.bias": t[3:4],
                       "readout.weight": t[4:6], "readout.bias": t[6:7]}

    def copy(self):
        new = _Quadratic(self.c)
        new.theta[:] = self.theta
        return new

    def value_and_grad(self, x, y, loss, flat=False):
        assert flat
        return np.zeros(len(x)), None, self.c * self.theta  # (loss values, outputs, gradient)


@pytest.mark.parametrize("p", [1, 2])
def test_sgd_momentum_and_weight_decay_follow_the_documented_formula(p):
    lr, mu, lam, c = 0.1, 0.9, 0.05, 0.3
    spec = TrainSpec(n_train=4, batch_size=2, lr=lr, momentum=mu, weight_decay=lam, wd_power=p)
    model = _Quadratic(c)
    start = {k: v.copy() for k, v in model.params.items()}
    vel = np.zeros_like(model.theta)
    x, y = np.zeros((4, 1, 2)), np.ones(4)
    _epoch(model, vel, x, y, None, spec, np.random.default_rng(0), np.dtype(np.float64))
    # two steps by hand: g = c w (+ lam p |w|^(p-1) sign w on conv weights only), v = mu v + g,
    # w -= lr v
    velocity = _Quadratic(c)
    velocity.theta[:] = vel
    for k, w in start.items():
        v = np.zeros_like(w)
        for _ in range(2):
            g = c * w
            if k == "conv1.weight":
                g = g + (2 * lam * w if p == 2 else lam * np.sign(w))
            v = mu * v + g
            w = w - lr * v
        np.testing.assert_allclose(model.params[k], w, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(velocity.params[k], v, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------- learning

def test_block_task_is_learned_to_zero_training_error():
    # issue 3: 1D block task N = 64, xi = 16, K = 6, F = s = 2, width 32 (SPEC section 8 recipe
    # otherwise). The +1 class has 4 * C(16, 2) = 480 configurations, so 512 training points
    # cover much of it; expect zero training error and test error < 10 %.
    task = TaskSpec(dim=1, size=64, xi=16)
    net = recipe_net(size=64, depth=6, width=32)
    spec = TrainSpec(n_train=512, n_test=512, continue_factor=0.5, max_epochs=60,
                     record_every=5, checkpoint_every=1000)
    result = train(task, net, spec, rng=0, progress=False, threads=1)
    h = result.history
    e = h.epochs_to_stop
    assert e is not None and h.final.train_error == 0.0
    assert [r.train_error for r in h.records if r.epoch == e] == [0.0]
    assert result.at_stop is not None and not np.array_equal(
        result.at_stop.params["conv1.weight"], result.model.params["conv1.weight"])
    assert h.epochs == e + math.ceil(0.5 * e)  # the continuation: half as many epochs again
    assert h.final.test_error < 0.10
    assert [r.epoch for r in h.records][:2] == [0, 5]
    # the weights moved: every layer's relative change is positive and finite
    wc = h.final.weight_change
    assert list(wc) == [f"conv{k}" for k in range(1, 7)] + ["readout"]
    assert all(0 < v < np.inf for v in wc.values())


# ---------------------------------------------------------------------------- resume

_TASK = TaskSpec(dim=1, size=32, xi=8)
_NET = NetSpec(dim=1, size=32, depth=5, filter=2, stride=2, width=6, param="mf",
               gain=math.sqrt(2))
_SPEC = TrainSpec(n_train=64, n_test=32, batch_size=8, momentum=0.9, stop="epochs",
                  max_epochs=7, checkpoint_every=2, record_every=3)


class _Interrupt(Exception):
    pass


def _stop_at(epoch):
    def callback(e, model, record):
        if e == epoch:
            raise _Interrupt
    return callback


def _strip_time(records):
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in records]


def test_resumed_run_is_bit_identical_to_uninterrupted(tmp_path):
    a = train(_TASK, _NET, _SPEC, rng=3, out_dir=tmp_path / "a", progress=False)
    with pytest.raises(_Interrupt):  # interrupted after epoch 5: the last checkpoint is epoch 4
        train(_TASK, _NET, _SPEC, rng=3, out_dir=tmp_path / "b", progress=False,
              callback=_stop_at(5))
    assert not (tmp_path / "b" / "model.npz").exists()
    b = train(_TASK, _NET, _SPEC, rng=3, out_dir=tmp_path / "b", progress=False, resume=True)
    assert a.history.epochs == b.history.epochs == 7
    for k, w in a.model.params.items():
        assert np.array_equal(w, b.model.params[k]), k
        assert np.array_equal(a.init.params[k], b.init.params[k]), k
    assert _strip_time(a.history.records) == _strip_time(b.history.records)
    # a different seed on the same run can not lose progress silently: refused
    with pytest.raises(ScaleDetectError, match="seed"):
        train(_TASK, _NET, _SPEC, rng=4, out_dir=tmp_path / "b", progress=False, resume=True)
    # a fresh run into a folder holding a checkpoint: refused
    with pytest.raises(ScaleDetectError, match="already holds a run"):
        train(_TASK, _NET, _SPEC, rng=3, out_dir=tmp_path / "b", progress=False)


def test_resume_with_a_changed_setting_names_it(tmp_path):
    with pytest.raises(_Interrupt):
        train(_TASK, _NET, _SPEC, rng=1, out_dir=tmp_path, progress=False, callback=_stop_at(3))
    changed = TrainSpec(**{**_SPEC.to_dict(), "momentum": 0.5})
    with pytest.raises(ScaleDetectError, match="momentum=0.9 in the checkpoint but 0.5 now"):
        train(_TASK, _NET, changed, rng=1, out_dir=tmp_path, progress=False, resume=True)


def test_same_seed_same_run_and_stopping_rules():
    # stop at a loss threshold larger than the initial loss: met at epoch 0, no continuation
    s = TrainSpec(n_train=16, n_test=0, stop="loss", loss_threshold=1e9)
    h = train(_TASK, _NET, s, rng=2, progress=False).history
    assert (h.epochs, h.epochs_to_stop, h.stop_reason) == (0, 0, "loss")
    assert h.final.test_error is None
    # an unreachable criterion stops at max_epochs; a second run with the same seed is identical
    s = TrainSpec(n_train=16, n_test=8, stop="loss", loss_threshold=0.0, max_epochs=2)
    r1 = train(_TASK, _NET, s, rng=2, progress=False)
    r2 = train(_TASK, _NET, s, rng=2, progress=False)
    assert (r1.history.epochs, r1.history.stop_reason) == (2, "max_epochs")
    assert r1.history.epochs_to_stop is None
    assert all(np.array_equal(v, r2.model.params[k]) for k, v in r1.model.params.items())


def test_resume_inside_the_continuation_phase(tmp_path):
    # threshold = the exact training loss after epoch 2 of the same trajectory, so the criterion
    # is met at some epoch E <= 2; then 2 E more epochs. Interrupt one epoch after E.
    probe = train(_TASK, _NET, replace(_SPEC, max_epochs=2, record_every=1), rng=7,
                  progress=False).history.records
    spec = replace(_SPEC, stop="loss", loss_threshold=probe[2].train_loss,
                   continue_factor=2.0, max_epochs=50, checkpoint_every=1)
    a = train(_TASK, _NET, spec, rng=7, out_dir=tmp_path / "a", progress=False)
    e = a.history.epochs_to_stop
    assert e in (1, 2) and a.history.epochs == 3 * e
    assert a.history.stop_reason == "continued"
    with pytest.raises(_Interrupt):
        train(_TASK, _NET, spec, rng=7, out_dir=tmp_path / "b", progress=False,
              callback=_stop_at(e + 1))
    b = train(_TASK, _NET, spec, rng=7, out_dir=tmp_path / "b", progress=False, resume=True)
    assert (b.history.epochs, b.history.epochs_to_stop) == (3 * e, e)
    # the model at the criterion came back from at_stop.npz, written before the interruption
    assert all(np.array_equal(v, b.at_stop.params[k]) for k, v in a.at_stop.params.items())
    assert all(np.array_equal(v, b.model.params[k]) for k, v in a.model.params.items())
