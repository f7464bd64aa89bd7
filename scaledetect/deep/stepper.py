"""A PyTorch module as a ``training.Stepper``: hinge loss, ``torch.optim.SGD``.

The loss is ``mean relu(1 - y f(x))`` over the mini-batch; the optimizer's learning rate is set
before every step (the loop's schedule); evaluation runs in eval mode without gradients, 512
samples per forward pass.
"""

import os

import numpy as np

from ..errors import ScaleDetectError


class TorchStepper:
    """Train *model* in place with *opt*.

    Parameters
    ----------
    model : torch.nn.Module
        At initialization, on *device*.
    opt : torch.optim.Optimizer
        Over ``model.parameters()`` (its momentum buffers are part of the state).
    device : torch.device
    write : callable
        ``write(path, module)``: saves a model file (``deep.io.save_arch_model`` with the run's
        config).
    build : callable
        ``build()``: a fresh module of the same architecture on the CPU (to write model files).
    """

    name = "torch"

    def __init__(self, model, opt, device, write, build):
        import torch

        self.torch, self.model, self.opt, self.device = torch, model, opt, device
        self._write, self._build = write, build
        self._init = _numpy_state(model)
        self._finite = torch.ones((), dtype=torch.bool, device=device)

    def _tensor(self, a: np.ndarray):
        """*a* as a float32 tensor on the device with the standard strides of its shape.

        (Numpy may give a size-1 axis any stride, and torch's convolutions pick their memory
        format from the strides: (784, 1, 28, 1) would run in channels-last, with other
        rounding.)
        """
        t = self.torch.empty(a.shape, dtype=self.torch.float32, device=self.device)
        return t.copy_(self.torch.from_numpy(np.asarray(a, np.float32)))

    def step(self, x, y, lr: float) -> None:
        """One optimizer step on ``(x, y)`` at learning rate *lr* (train mode)."""
        for g in self.opt.param_groups:
            g["lr"] = lr
        if not self.model.training:
            self.model.train()
        xt, yt = self._tensor(x), self._tensor(y)
        loss = self.torch.relu(1 - yt * self.model(xt)).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self._finite &= self.torch.isfinite(loss.detach())

    def epoch_finite(self) -> bool:
        """Whether every mini-batch loss since the last call and every parameter now are
        finite; resets.
        """
        torch = self.torch
        params = torch.stack([torch.isfinite(p.detach()).all() for p in self.model.parameters()])
        ok = bool(self._finite & params.all())
        self._finite.fill_(True)
        return ok

    def evaluate(self, x, y, chunk: int = 512) -> tuple[float, float]:
        """Mean hinge loss and error (fraction with ``y f <= 0`` or NaN), eval mode, no grad."""
        torch = self.torch
        xt, yt = self._tensor(x), self._tensor(y)
        self.model.eval()
        with torch.no_grad():
            out = torch.cat([self.model(xt[i:i + chunk]) for i in range(0, len(xt), chunk)])
        margin = yt * out
        err = float((~(margin > 0)).float().mean())
        return float(torch.relu(1 - margin).mean()), err

    def init_arrays(self) -> dict:
        """The state dict at initialization."""
        return {k: v.copy() for k, v in self._init.items()}

    def model_arrays(self) -> dict:
        """The current state dict (parameters and buffers), as numpy copies."""
        return _numpy_state(self.model)

    def state_arrays(self) -> dict:
        """``model/<key>``, ``momentum/<i>`` (the optimizer's buffers) and ``torch_rng``."""
        out = {f"model/{k}": v for k, v in _numpy_state(self.model).items()}
        for i, p in enumerate(self.model.parameters()):
            buf = self.opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                out[f"momentum/{i}"] = buf.detach().cpu().numpy().copy()
        out["torch_rng"] = self.torch.get_rng_state().numpy().copy()
        return out

    def load_state(self, arrays: dict) -> None:
        """Restore ``state_arrays()``."""
        torch = self.torch
        keys = list(self.model.state_dict())
        missing = [k for k in [*(f"model/{k}" for k in keys), "torch_rng"] if k not in arrays]
        if missing:
            raise ScaleDetectError(f"checkpoint arrays {missing[:3]} missing; delete the "
                                   "checkpoint to start afresh")
        self.model.load_state_dict({k: torch.from_numpy(arrays[f"model/{k}"]) for k in keys})
        for i, p in enumerate(self.model.parameters()):
            a = arrays.get(f"momentum/{i}")
            if a is not None:
                self.opt.state[p]["momentum_buffer"] = torch.from_numpy(a).to(self.device)
        torch.set_rng_state(torch.from_numpy(arrays["torch_rng"]))

    def extras(self) -> dict:
        """None: no penalty or weight change is recorded for these models."""
        return {}

    def module(self, arrays: dict):
        """A CPU module (eval mode) holding the state dict *arrays*."""
        m = self._build()
        m.load_state_dict({k: self.torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        return m.eval()

    def write_model(self, path: str | os.PathLike, arrays: dict) -> None:
        """Save the module with state dict *arrays* (``deep.io`` format)."""
        self._write(path, self.module(arrays))


def _numpy_state(model) -> dict:
    """``model.state_dict()`` as numpy copies on the CPU."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
