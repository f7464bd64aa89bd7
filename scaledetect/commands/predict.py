"""``scaledetect predict --model M.npz --input X.npy --out Y.npz``: every layer of a saved model.

Writes the arrays ``layer0`` (the input, in the model's dtype), ``layer1`` ... ``layerK`` (each
``(n, C, N_k[, N_k])``) and ``output`` (``(n,)``). The input is an ``.npy`` array of shape
``(n, 1, N[, N])`` matching the model, or an ``.npz`` holding such an array as ``images`` (what
``scaledetect data`` writes).
"""

import argparse

import numpy as np

from .._memory import require_memory
from ..errors import ScaleDetectError
from ..io import save_npz
from ..nn.io import load_model
from ._common import check_output, layer_dims


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--input``, ``--out``, ``--batch``."""
    p.add_argument("--model", required=True, help="model file M.npz (scaledetect train)")
    p.add_argument("--input", required=True, help="images X.npy (n, 1, N[, N]) or .npz 'images'")
    p.add_argument("--out", required=True, help="output Y.npz")
    p.add_argument("--batch", type=int, default=256, help="images per forward pass (default 256)")


def run(a: argparse.Namespace) -> int:
    """Load and check model and input, forward in batches, write every layer atomically."""
    if a.batch < 1:
        raise ScaleDetectError(f"batch must be an integer >= 1; got batch={a.batch}")
    check_output("--out", a.out, {"--model": a.model, "--input": a.input})
    model = load_model(a.model)
    x = read_input(a.input)
    spec = model.spec
    expected = (1,) + (spec.size,) * spec.dim
    if x.ndim != spec.dim + 2 or x.shape[1:] != expected or x.shape[0] < 1:
        raise ScaleDetectError(f"input must have shape (n, {', '.join(map(str, expected))}) with "
                               f"n >= 1 for this model (dim={spec.dim}, size={spec.size}); got "
                               f"shape {x.shape} from {a.input}")
    require_memory("every layer of every image",
                   2.0 * len(x) * sum(layer_dims(spec)) * model.dtype.itemsize,
                   f"{len(x)} images in {a.input}")
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        x = np.ascontiguousarray(x, dtype=model.dtype)
    if not np.all(np.isfinite(x)):  # after the conversion: float64 1e300 is inf in float32
        raise ScaleDetectError(f"input must be finite in the model's dtype {model.dtype.name} "
                               f"(|x| <= {float(np.finfo(model.dtype).max):.3g}); {a.input} "
                               f"holds {int(np.count_nonzero(~np.isfinite(x)))} values that "
                               f"are NaN or inf, or overflow {model.dtype.name}")
    arrays = _layers(model, x, a.batch)
    for name, f in arrays.items():
        if not np.all(np.isfinite(f)):
            raise ScaleDetectError(
                f"model must give finite layers; got NaN or inf in {name} of {a.model} on "
                f"{a.input} (weights or inputs so large that the layer overflows "
                f"{model.dtype.name}); nothing written")
    save_npz(a.out, **arrays)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {a.out}: {shapes}")
    return 0


def _layers(model, x: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """``{"layer0": ..., "layerK": ..., "output": ...}`` of *x*, forwarded *batch* at a time."""
    parts = None
    for s in range(0, len(x), batch):
        layers = model.forward(x[s:s + batch], layers=True)
        if parts is None:
            parts = [[] for _ in layers]
        for store, f in zip(parts, layers, strict=True):
            store.append(np.asarray(f))
    arrays = {f"layer{k}": np.concatenate(p) for k, p in enumerate(parts[:-1])}
    arrays["output"] = np.concatenate(parts[-1])
    return arrays


def read_input(path: str) -> np.ndarray:
    """Images from an ``.npy`` (the array) or ``.npz`` (its ``images`` array); no pickle."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
            fh.seek(0)
            if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
                raise ScaleDetectError(f"input {path}: not an .npy or .npz file")
            obj = np.load(fh, allow_pickle=False)
            if isinstance(obj, np.lib.npyio.NpzFile):
                if "images" not in obj.files:
                    raise ScaleDetectError(f"input {path}: an .npz input must hold an array "
                                           f"'images'; got arrays {obj.files}")
                obj = obj["images"]
    except (ScaleDetectError, FileNotFoundError):
        raise
    except Exception as err:  # ValueError (pickles), OSError, EOFError, zipfile.BadZipFile
        raise ScaleDetectError(f"input {path}: not a readable .npy/.npz array without pickle "
                               f"({err})") from None
    x = np.asarray(obj)
    if x.dtype.kind not in "fiu":
        raise ScaleDetectError(f"input must hold real numbers; got dtype {x.dtype} in {path}")
    return x
