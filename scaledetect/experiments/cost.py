"""Expected cost of a run: the weights of the progress bar of ``run_all`` (``runner.Progress``).

The model counts multiply-adds per image of the forward pass (``forward_macs``) and scales it by
what each kind of run does with it (one function per kind, named by the run-kind registry). Its
constants were fitted to the run times of the ``quick`` preset (one numba thread per worker,
quiet 2-core machine): measured / expected is 0.57-1.3 over its 21 numba trainings, 0.35-1.06
over its 23 Monte Carlo runs, 1067 s expected for 758 s in all (the previous constants expected
3500 s). Only ratios matter for the ETA: the progress bar derives it from the measured rate of
expected seconds done per second.
"""

import math

from ..nn.spec import NetSpec

#: Exact theory: seconds per (pair of positions x layer) when it enumerates pairs (tiny: 0.2 s
#: in 1D, 2.9 s in 2D), per (position x layer) on the translation-invariant path (2D N = 256,
#: K = 7: 0.24 s; K = 64 unstrided: 2.2 s).
_THEORY, _THEORY_FAST = 1.0e-5, 1.0e-6
#: Standard architectures (PyTorch): seconds per (image x epoch) and per probe image (quick's
#: LeNet, VGG11 w1/4, ResNet18 w1/8 at 0.4x these).
_DEEP_EPOCH, _DEEP_PROBE = 2.0e-3, 6.0e-3
#: NNGP: seconds per (pair of positions x layer), at most ``_NNGP_PAIRS`` pairs (8.3 s on quick).
_NNGP, _NNGP_PAIRS = 3.0e-4, 4096
#: Monte Carlo measurement: seconds per (probe x (3 forward MACs / width + 5 pixels)) (quick's
#: pooling nets: 1.4e-9 to 7e-9 with shift diffeos); max-entropy diffeos cost ``_MAXENT`` times
#: more (their displacement fields and interpolation).
_MEASURE, _MAXENT = 4.0e-9, 4.0
#: Training: seconds per (image x epoch) = a + b * forward MACs (quick's 1D ReLU nets: width 64
#: 9e-5, width 128 2.5e-4, F = 4 6e-5); tanh costs x4 (its kernels), 2D nets x5.7.
_TRAIN_A, _TRAIN_B, _TANH, _DIM2 = 4.0e-5, 1.0e-10, 4.0, 5.7
#: Fixed cost of any run (start-up, writing the result).
_OVERHEAD = 0.05
#: Epochs until the training set is interpolated, a typical value per activation (the quick
#: preset's nets: ReLU about 9, tanh about 35 with conv biases of std 0.1).
_EPOCHS_TO_FIT = {"relu": 10, "tanh": 35, "linear": 50}


def forward_macs(net: NetSpec) -> int:
    """Multiply-adds of one forward pass of one image: ``sum_k C_{k-1} C_k F^dim N_k^dim``."""
    side, total, c_in = net.size, 0, 1
    for _ in range(net.depth):
        side //= net.stride
        total += c_in * net.width * net.filter ** net.dim * side ** net.dim
        c_in = net.width
    return total + c_in * side ** net.dim


def train_epochs(run) -> int:
    """Epochs a numba training run is expected to last: fit, then ``continue_factor`` times more."""
    spec = run.train
    if spec.stop == "epochs":
        return spec.max_epochs
    fit = min(_EPOCHS_TO_FIT.get(run.net.act, 50), spec.max_epochs)
    return max(1, math.ceil(fit * (1 + spec.continue_factor)))


def deep_epochs(run) -> int:
    """Epochs of a standard-architecture run (its spec's, or the usual default of 30)."""
    return run.train.epochs or 30


def theory_seconds(run) -> float:
    """Exact theory: pairs of positions x depth, or positions x depth on the translation path."""
    from ..theory.exact import enumerates_pairs

    pixels = run.task.size ** run.task.dim
    if enumerates_pairs(run.task, run.net, run.pert):
        return _OVERHEAD + _THEORY * pixels ** 2 * run.net.depth
    return _OVERHEAD + _THEORY_FAST * pixels * run.net.depth


def nngp_seconds(run) -> float:
    """NNGP: pairs of positions (at most ``_NNGP_PAIRS``) x depth."""
    return _OVERHEAD + _NNGP * min(run.task.size ** (2 * run.task.dim), _NNGP_PAIRS) \
        * run.net.depth


def _measure(run) -> float:
    pixels = run.task.size ** run.task.dim
    return _MEASURE * run.probe * (3 * forward_macs(run.net) / run.net.width + 5 * pixels) * (
        _MAXENT if run.pert.diffeo == "maxent" else 1.0)


def measure_seconds(run) -> float:
    """Monte Carlo: probes x forward cost (per channel)."""
    return _OVERHEAD + _measure(run)


def train_seconds(run) -> float:
    """Training: epochs x images x forward cost, plus two measurements."""
    per_image = (_TRAIN_A + _TRAIN_B * forward_macs(run.net)) * (
        _TANH if run.net.act == "tanh" else 1.0) * (_DIM2 if run.net.dim == 2 else 1.0)
    return _OVERHEAD + 2 * _measure(run) + train_epochs(run) * run.train.n_train * per_image


def deep_seconds(run) -> float:
    """Standard architectures: epochs x images, plus the measurements."""
    return _OVERHEAD + _DEEP_EPOCH * deep_epochs(run) * run.train.n_train \
        + 2 * _DEEP_PROBE * run.probe
