"""Models as ``.npz`` files without pickle: save, and load with full validation.

Layout of a model file:

==================  ============================  =======================================
array               shape                         meaning
==================  ============================  =======================================
``conv{k}.weight``  ``(C_out, C_in, F[, F])``     raw weights of conv layer k = 1..K
``conv{k}.bias``    ``(C_out,)``                  only if ``net.bias``
``readout.weight``  ``(C,)``                      beta
``readout.bias``    ``(1,)``                      b
``config``          0-d unicode string            JSON ``{"format", "version", "net", "dtype"}``
==================  ============================  =======================================

Every parameter array has the model's dtype (float32 or float64).
"""

import json
import os
from dataclasses import fields

import numpy as np

from ..activations import PARAMETERS
from ..errors import ScaleDetectError, require, require_path
from ..io import dumps_json, load_npz, save_npz
from .model import CNN, param_shapes
from .spec import NetSpec

__all__ = ["load_model", "param_shapes", "parse_config", "save_model"]

FORMAT = "scaledetect-model"
VERSION = 1
DTYPES = ("float32", "float64")


def model_config(model) -> dict:
    """Return the ``config`` dictionary stored with *model*: format, version, net spec and dtype."""
    return {"format": FORMAT, "version": VERSION, "net": model.spec.to_dict(),
            "dtype": np.dtype(model.dtype).name}


def save_model(path: str | os.PathLike, model) -> None:
    """Write *model* to ``path`` as an ``.npz`` without pickle (atomic: complete or absent).

    Parameters
    ----------
    path : str or PathLike
        Destination, conventionally ``*.npz``.
    model : CNN
        Anything with ``spec`` (NetSpec), ``params`` (dict of arrays) and ``dtype``.

    Raises
    ------
    ScaleDetectError
        If the model's parameters do not match its own spec (nothing is written).

    """
    require_path("path", path)
    require(all(hasattr(model, a) for a in ("spec", "params", "dtype"))
            and isinstance(model.spec, NetSpec), "model", "be a CNN (a NetSpec spec, params "
            "and dtype)", model)
    config = model_config(model)
    arrays = _validated(dict(model.params), model.spec, config["dtype"], "model.params")
    save_npz(path, config=np.array(dumps_json(config)), **arrays)


def load_model(path: str | os.PathLike):
    """Read a model written by ``save_model`` and check everything before building it.

    Parameters
    ----------
    path : str or PathLike
        The ``.npz`` file.

    Returns
    -------
    CNN
        The model, parameters in the stored dtype.

    Raises
    ------
    ScaleDetectError
        Naming what is wrong: not an ``.npz``, a pickled/object array, a missing or malformed
        ``config``, an unknown or invalid net field, a bad dtype, a missing or unexpected array,
        a wrong shape or dtype.
    OSError
        If the file cannot be read.

    """
    require_path("path", path)
    where = f"model file {os.fspath(path)}"
    with open(path, "rb") as fh:  # FileNotFoundError / OSError propagate (the CLI names the file)
        if fh.read(2) != b"PK":
            raise ScaleDetectError(f"{where}: refused, not an .npz file (scaledetect train writes "
                                   "model.npz)")
    try:
        arrays = load_npz(path)
    except ValueError as err:  # object arrays need pickle, which is refused
        raise ScaleDetectError(f"{where}: refused ({err}); models hold only numeric arrays and a "
                               "JSON config") from None
    except (OSError, EOFError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ScaleDetectError(f"{where}: not a readable .npz file ({err})") from None
    except Exception as err:  # zipfile.BadZipFile and friends
        raise ScaleDetectError(f"{where}: not a readable .npz file ({err})") from None
    spec, dtype = parse_config(arrays.pop("config", None), where)
    params = _validated(arrays, spec, dtype, where)
    try:
        return CNN(spec, params, dtype=np.dtype(dtype))
    except ScaleDetectError as err:  # e.g. a non-finite weight
        raise ScaleDetectError(f"{where}: {err}") from None


def parse_config(config: np.ndarray | None, where: str = "model file") -> tuple[NetSpec, str]:
    """Decode and validate the ``config`` array of a model file.

    Returns
    -------
    (NetSpec, str)
        The net spec and the dtype name (``float32`` or ``float64``).

    """
    if config is None:
        raise ScaleDetectError(f"{where}: array 'config' is missing (a JSON string with the net)")
    if config.shape != () or config.dtype.kind != "U":
        raise ScaleDetectError(f"{where}: 'config' must be a 0-d string array; got dtype "
                               f"{config.dtype} shape {config.shape}")
    try:
        cfg = json.loads(str(config))
    except json.JSONDecodeError as err:
        raise ScaleDetectError(f"{where}: 'config' is not valid JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise ScaleDetectError(f"{where}: 'config' must be a JSON object; got {cfg!r}")
    if cfg.get("format") != FORMAT or cfg.get("version") != VERSION:
        raise ScaleDetectError(f"{where}: config format must be {FORMAT!r} version {VERSION}; got "
                               f"format={cfg.get('format')!r} version={cfg.get('version')!r}")
    net = cfg.get("net")
    if not isinstance(net, dict):
        raise ScaleDetectError(f"{where}: config 'net' must be an object of NetSpec fields; "
                               f"got {net!r}")
    known = {f.name for f in fields(NetSpec)}
    required = known - set(PARAMETERS)  # activation parameters: only where the act takes them
    if not required <= set(net) <= known:
        missing, extra = sorted(required - set(net)), sorted(set(net) - known)
        raise ScaleDetectError(f"{where}: config 'net' fields do not match NetSpec "
                               f"(missing {missing}, unknown {extra})")
    try:
        spec = NetSpec(**net)
    except (ScaleDetectError, TypeError) as err:
        raise ScaleDetectError(f"{where}: invalid net in config: {err}") from None
    dtype = cfg.get("dtype")
    if dtype not in DTYPES:
        raise ScaleDetectError(f"{where}: config dtype must be one of {', '.join(DTYPES)}; "
                               f"got dtype={dtype!r}")
    return spec, dtype


def _validated(arrays: dict, spec: NetSpec, dtype: str, where: str) -> dict[str, np.ndarray]:
    """Check names, shapes and dtypes of *arrays* against *spec*; return contiguous copies."""
    expected = param_shapes(spec)
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise ScaleDetectError(f"{where}: missing array(s) {', '.join(missing)} required by the "
                               f"net (depth={spec.depth}, bias={spec.bias})")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise ScaleDetectError(f"{where}: unexpected array(s) {', '.join(extra)} for the net "
                               f"(depth={spec.depth}, bias={spec.bias})")
    out = {}
    for name, shape in expected.items():
        a = np.asarray(arrays[name])
        if a.shape != shape:
            raise ScaleDetectError(f"{where}: array {name} must have shape {shape} for the net in "
                                   f"config; got shape {a.shape}")
        if a.dtype != np.dtype(dtype):
            raise ScaleDetectError(f"{where}: array {name} must have dtype {dtype} (config); got "
                                   f"dtype {a.dtype}")
        out[name] = np.ascontiguousarray(a)
    return out
