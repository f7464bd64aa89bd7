"""Deep models as ``.npz`` state dicts with a JSON config, never pickles.

Layout of a deep model file (the numba model format of ``scaledetect.nn.io`` with ``"arch"``):

==========================  ===================  ==========================================
array                       shape / dtype        meaning
==========================  ===================  ==========================================
``<state-dict key>``        as in the module     every parameter and buffer (``features.0.weight``,
                                                 ``bn1.running_mean``, ``...num_batches_tracked``)
``config``                  0-d unicode string   JSON ``{"format", "version", "arch",
                                                 "width_factor", "size", ...}``
==========================  ===================  ==========================================

``is_arch_model`` reads only the config and does not need torch.
"""

import json
import os
import zipfile

import numpy as np

from ..errors import ScaleDetectError, require, require_int, require_real
from ..io import dumps_json, load_npz, save_npz
from ..tasks.spec import TaskSpec

FORMAT = "scaledetect-arch-model"
VERSION = 1


def _read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    where = f"model file {os.fspath(path)}"
    if os.path.exists(path) and not zipfile.is_zipfile(path):
        raise ScaleDetectError(f"{where}: not a readable .npz file (not a zip archive)")
    try:
        return load_npz(path)
    except FileNotFoundError:
        raise
    except ValueError as err:  # object arrays need pickle, which is refused
        raise ScaleDetectError(f"{where}: refused ({err}); models hold only numeric arrays and a "
                               "JSON config") from None
    except Exception as err:  # zipfile.BadZipFile, EOFError, ...
        raise ScaleDetectError(f"{where}: not a readable .npz file ({err})") from None


def _config(arrays: dict, where: str) -> dict | None:
    """The decoded JSON config, or None if there is no string ``config`` array."""
    c = arrays.get("config")
    if c is None or c.shape != () or c.dtype.kind != "U":
        return None
    try:
        cfg = json.loads(str(c))
    except json.JSONDecodeError as err:
        raise ScaleDetectError(f"{where}: 'config' is not valid JSON ({err})") from None
    return cfg if isinstance(cfg, dict) else None


def is_arch_model(path: str | os.PathLike) -> bool:
    """Whether *path* holds a deep (``--arch``) model rather than a numba CNN.

    Raises
    ------
    ScaleDetectError
        If the file is not a readable ``.npz`` without pickles.
    """
    cfg = _config(_read(path), f"model file {os.fspath(path)}")
    return cfg is not None and "arch" in cfg


def save_arch_model(path: str | os.PathLike, module, config: dict) -> None:
    """Write *module*'s state dict and *config* to ``path`` atomically.

    Parameters
    ----------
    path : str or PathLike
    module : torch.nn.Module
        Built by ``archs.build(config["arch"], config["width_factor"], config["size"])``.
    config : dict
        JSON-able; must hold ``arch``, ``width_factor`` and ``size`` (more keys, e.g. the task
        and the training settings, are stored as given). ``format``/``version`` are added.
    """
    for key in ("arch", "width_factor", "size"):
        if key not in config:
            raise ScaleDetectError(f"config must hold {key!r}; got keys {sorted(config)}")
    cfg = {**config, "format": FORMAT, "version": VERSION}
    arrays = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    if "config" in arrays:
        raise ScaleDetectError("module state dict must not have a key named 'config'")
    save_npz(path, config=np.array(dumps_json(cfg)), **arrays)


def _check_config(cfg: dict, where: str) -> None:
    """Types of the config fields a deep model is built and measured from (as the CLI's)."""
    try:
        require(isinstance(cfg.get("arch"), str), "arch", "be the name of an architecture",
                cfg.get("arch"))
        require_real("width_factor", cfg.get("width_factor"))
        require(cfg["width_factor"] > 0, "width_factor", "be > 0", cfg["width_factor"])
        require_int("size", cfg.get("size"), 2)
        task = cfg.get("task")
        require(task is None or isinstance(task, dict), "task", "be an object of TaskSpec "
                "fields", task)
        if task:
            TaskSpec(**task)
    except (ScaleDetectError, TypeError) as err:
        raise ScaleDetectError(f"{where}: invalid config: {err}") from None


def load_arch_model(path: str | os.PathLike):
    """Read a model written by ``save_arch_model``; check every array before loading it.

    Returns
    -------
    (torch.nn.Module, dict)
        The module (in eval mode, float32, on CPU) and its config.

    Raises
    ------
    ScaleDetectError
        Naming what is wrong: not an ``.npz``, a pickled/object array, a missing or malformed
        config, an unknown arch, a missing or unexpected array, a wrong shape or dtype.
    """
    import torch

    from .archs import build

    where = f"model file {os.fspath(path)}"
    arrays = _read(path)
    cfg = _config(arrays, where)
    if cfg is None or cfg.get("format") != FORMAT or cfg.get("version") != VERSION:
        raise ScaleDetectError(f"{where}: 'config' must be a JSON object with format {FORMAT!r} "
                               f"version {VERSION}")
    arrays.pop("config")
    _check_config(cfg, where)
    try:
        module = build(cfg.get("arch"), cfg.get("width_factor"), cfg.get("size"))
    except ScaleDetectError as err:
        raise ScaleDetectError(f"{where}: invalid architecture in config: {err}") from None
    expected = module.state_dict()
    missing = [k for k in expected if k not in arrays]
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ScaleDetectError(f"{where}: arrays do not match arch={cfg['arch']} width_factor="
                               f"{cfg['width_factor']} (missing {missing[:5]}, unexpected "
                               f"{extra[:5]})")
    state = {}
    for k, t in expected.items():
        a = arrays[k]
        want = str(t.dtype).removeprefix("torch.")
        if a.shape != tuple(t.shape) or a.dtype != np.dtype(want):
            raise ScaleDetectError(f"{where}: array {k} must have shape {tuple(t.shape)} and "
                                   f"dtype {want}; got shape {a.shape} dtype {a.dtype}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ScaleDetectError(f"{where}: array {k} must be finite; got "
                                   f"{int(np.count_nonzero(~np.isfinite(a)))} NaN or inf values")
        state[k] = torch.from_numpy(np.ascontiguousarray(a))
    module.load_state_dict(state)
    return module.eval(), cfg
