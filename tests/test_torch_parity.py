"""Forward pass and gradients equal to PyTorch's (skipped without torch).

PyTorch builds the same network from ``conv1d``/``conv2d`` on an input wrapped circularly on the
right by F - s (``F.pad(mode="circular")``, so unit u sees s u .. s u + F - 1 mod N), weights
divided by sqrt(C_in F^dim), the activation times gain, a global mean and the readout; autograd
gives the gradients of the mean hinge loss. float64: agreement to 1e-10 relative to the largest
entry (different summation orders of <= a few hundred terms, eps 1e-16); float32: 1e-5 (eps 6e-8
times sums of <= ~100 terms; ReLU/hinge decisions agree because the inputs are identical).
"""

import numpy as np
import pytest
from skips import skip_without

from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec

torch = skip_without("torch")
tnf = torch.nn.functional

SPECS = [
    NetSpec(dim=1, size=32, depth=4, filter=2, stride=2, width=8, act="relu", gain=2 ** 0.5),
    NetSpec(dim=1, size=16, depth=3, filter=3, stride=1, width=6, act="tanh", param="mf",
            alpha=0.5, bias=False),
    NetSpec(dim=1, size=16, depth=2, filter=3, stride=2, width=5, act="linear"),
    NetSpec(dim=2, size=8, depth=3, filter=2, stride=2, width=6, act="relu", param="mf"),
    NetSpec(dim=2, size=9, depth=2, filter=3, stride=3, width=4, act="tanh", gain=1.5),
    NetSpec(dim=2, size=8, depth=2, filter=3, stride=2, width=4, act="relu", bias=False),
    NetSpec(dim=1, size=16, depth=3, filter=3, stride=2, width=6, act="leaky_relu",
            negative_slope=0.2, gain=1.3),
    NetSpec(dim=2, size=8, depth=2, filter=2, stride=1, width=4, act="leaky_relu", param="mf"),
    NetSpec(dim=1, size=16, depth=3, filter=2, stride=1, width=6, act="gelu", gain=1.2),
    NetSpec(dim=2, size=9, depth=2, filter=3, stride=3, width=4, act="gelu", bias=False),
]


def hinge(alpha):
    def loss(out, y):
        m = 1 - y * out
        return np.maximum(m, 0) / alpha, np.where(m > 0, -y / alpha, 0.0).astype(out.dtype)
    return loss


def torch_net(spec, params, x, dtype):
    ps = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    conv = tnf.conv1d if spec.dim == 1 else tnf.conv2d
    f, s, d = spec.filter, spec.stride, spec.dim
    act = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z,
           "leaky_relu": lambda z: tnf.leaky_relu(z, spec.negative_slope),
           "gelu": lambda z: tnf.gelu(z, approximate="none")}[spec.act]
    h = torch.tensor(x, dtype=dtype)
    reps = [h]
    for k in range(1, spec.depth + 1):
        w = ps[f"conv{k}.weight"]
        if f > s:
            h = tnf.pad(h, (0, f - s) * d, mode="circular")
        h = spec.gain * act(conv(h, w / (w.shape[1] * f ** d) ** 0.5, ps.get(f"conv{k}.bias"),
                                 stride=s))
        reps.append(h)
    g = h.mean(dim=tuple(range(2, 2 + d)))
    c = spec.width ** -0.5 if spec.param == "ntk" else 1 / spec.width
    out = spec.alpha * (ps["readout.bias"] + c * (g @ ps["readout.weight"]))
    return ps, reps, out


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.dim}d-F{s.filter}-s{s.stride}-{s.act}")
def test_matches_torch(spec, dtype, tol):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    model = init_cnn(spec, 3, dtype=dtype)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 1) + (spec.size,) * spec.dim).astype(dtype)
    y = np.where(rng.random(5) < 0.5, -1.0, 1.0).astype(dtype)
    ps, reps, out = torch_net(spec, model.params, x, tdtype)
    loss = (torch.relu(1 - torch.tensor(y) * out) / spec.alpha).mean()
    loss.backward()
    got = model.forward(x, layers=True)
    for a, r in zip(got, reps + [out], strict=True):
        r = r.detach().numpy()
        assert a.shape == r.shape
        assert np.abs(a - r).max() <= tol * max(np.abs(r).max(), 1)
    values, _, grads = model.value_and_grad(x, y, hinge(spec.alpha))
    assert abs(values.mean() - loss.item()) <= tol * max(abs(loss.item()), 1)
    for k, g in grads.items():
        r = ps[k].grad.numpy()
        assert np.abs(g - r).max() <= tol * max(np.abs(r).max(), 1e-3), k
