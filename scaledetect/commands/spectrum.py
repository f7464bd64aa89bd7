"""``scaledetect spectrum --model M.npz [--json]``: filter spectra of a saved model's conv layers.

Each filter is expanded on the eigenvectors of the grid Laplacian of its support (the path of F
sites in 1D, the F x F square in 2D, open boundaries), sorted by eigenvalue; per layer the mean
squared projection on each eigenvector (``power``) and the share of the constant mode
(``constant_fraction``: 1 for averaging filters, 1/F^dim on average for random ones). Works on
numba models (``scaledetect train``) and deep ones (``scaledetect train --arch``: every conv with a
square kernel; a 1 x 1 conv has the constant mode only). ``--json`` prints ``{"config": {...},
"layers": [{"k", "name", "shape", "eigenvalues", "power", "constant_fraction"}, ...]}``.
"""

import argparse

import numpy as np

from ..diagnostics.channel_sum import channel_sum
from ..diagnostics.spectrum import spectra
from ..extras import require_extra
from ..nn.io import load_model
from ._common import print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--channel-sum``, ``--json``."""
    p.add_argument("--model", required=True, metavar="M.npz",
                   help="a saved model: a numba CNN (scaledetect train) or a deep one "
                        "(scaledetect train --arch)")
    p.add_argument("--channel-sum", action="store_true",
                   help="spectra of the channel-summed net (one channel per layer carrying the "
                        "filter summed over input channels and averaged over output channels)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def load_any_model(path: str):
    """``(model, config)``: a numba CNN and its net spec, or a PyTorch module and its config."""
    from ..deep.io import is_arch_model

    if not is_arch_model(path):
        model = load_model(path)
        return model, {"kind": "numba", "net": model.spec.to_dict()}
    require_extra("torch", f"model {path} (a PyTorch model)")
    from ..deep.io import load_arch_model

    module, cfg = load_arch_model(path)
    return module, {"kind": "arch", "arch": cfg["arch"], "width_factor": cfg["width_factor"],
                    "size": cfg["size"]}


def _table(layers) -> str:
    """One line per layer: k, name, shape, constant fraction, power per eigenvalue."""
    lines = [f"{'k':>3}  {'name':<22} {'shape':<18} {'const.frac':>10}  power by eigenvalue"]
    for x in layers:
        modes = "  ".join(f"{lam:.3g}:{p:.3g}" for lam, p in
                          zip(x.eigenvalues, x.power, strict=True))
        frac = "nan" if np.isnan(x.constant_fraction) else f"{x.constant_fraction:.4f}"
        lines.append(f"{x.k:>3}  {x.name:<22} {'x'.join(map(str, x.shape)):<18} {frac:>10}  "
                     f"{modes}")
    return "\n".join(lines)


def run(a: argparse.Namespace) -> int:
    """Load the model, compute every conv layer's spectrum, print JSON or a table."""
    model, config = load_any_model(a.model)
    if a.channel_sum:
        model = channel_sum(model)
    layers = spectra(model)
    config = {"model": a.model, **config, "channel_sum": bool(a.channel_sum)}
    if a.json:
        print_json({"config": config, "layers": [x.to_dict() for x in layers]})
    else:
        print(_table(layers))
    return 0
