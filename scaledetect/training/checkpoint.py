"""The training checkpoint: one versioned ``.npz`` for every stepper (no pickle).

Layout: arrays ``stepper/<name>`` (``Stepper.state_arrays``), ``best/<name>`` (the selected
model so far, with ``selection="best_test"``), ``at_stop/<name>`` (the model when the stopping
criterion was met, once it was), and ``meta``, a JSON string ``{"format", "version", "stepper",
"config", "loop", "shuffle"}``: the run's identity (task, net, training settings, seed
streams), the loop's state (epoch, records, stopping and selection state) and the mini-batch
generator's state.
"""

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ScaleDetectError
from ..io import load_npz, save_npz

FORMAT = "scaledetect-checkpoint"
#: 3: one format for both steppers (the loop of ``scaledetect.training``). 2 was the numba
#: trainer's (its test set drawn disjoint from the training set); the PyTorch trainer's had no
#: version (``scaledetect-deep-checkpoint``).
VERSION = 3
_GROUPS = ("stepper", "best", "at_stop")
#: Keys of the run identity that hold the seed.
_SEED_KEYS = ("streams", "seed", "torch_seed")


def write_checkpoint(path: str | os.PathLike, meta: dict, groups: dict[str, dict]) -> None:
    """Write *groups* (``{"stepper": arrays, "best": arrays or None, ...}``) and *meta*.

    *meta* holds ``stepper``, ``config``, ``loop`` and ``shuffle``; ``format`` and ``version``
    are added. Atomic.
    """
    arrays = {f"{g}/{k}": v for g, d in groups.items() if d is not None for k, v in d.items()}
    meta = {"format": FORMAT, "version": VERSION, **meta}
    save_npz(path, meta=np.array(json.dumps(meta)), **arrays)


def read_checkpoint(path: Path, stepper: str, config: dict) -> tuple[dict, dict]:
    """Read the checkpoint at *path*, checking that it belongs to the run *config*.

    Returns
    -------
    meta : dict
    groups : dict
        ``{"stepper": arrays, "best": arrays or None, "at_stop": arrays or None}``.

    Raises
    ------
    ScaleDetectError
        One line saying what differs, or that the file is unreadable or of an older version
        (delete it to start afresh).
    """
    where = f"checkpoint {path}"
    try:
        arrays = load_npz(path)
        key = "meta" if "meta" in arrays else "state"  # "state": the older formats
        meta = json.loads(str(arrays.pop(key)))
    except Exception as err:
        raise ScaleDetectError(f"{where}: unreadable ({err}); delete it to start afresh") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ScaleDetectError(
            f"{where}: written by an older scaledetect (format {meta.get('format')!r} version "
            f"{meta.get('version')}; this one reads version {VERSION}); delete it to start "
            "afresh")
    if meta.get("stepper") != stepper:
        raise ScaleDetectError(f"{where}: written by a {meta.get('stepper')!r} run, not a "
                               f"{stepper!r} one; delete it or choose another out_dir")
    _check_identity(where, meta.get("config", {}), config)
    groups = {g: {} for g in _GROUPS}
    for key, v in arrays.items():
        g, _, name = key.partition("/")
        if g in groups and name:
            groups[g][name] = v
    return meta, {**{g: d or None for g, d in groups.items()}, "stepper": groups["stepper"]}


def _check_identity(where: str, old: dict, new: dict) -> None:
    """Raise naming the first part of the run identity that differs from the checkpoint's."""
    for part in new:
        if old.get(part) == new[part]:
            continue
        if part in _SEED_KEYS:
            raise ScaleDetectError(f"{where}: the seed differs from the checkpoint's")
        a, b = old.get(part), new[part]
        if isinstance(a, dict) and isinstance(b, dict):
            detail = ", ".join(f"{k}={a.get(k)!r} in the checkpoint but {b.get(k)!r} now"
                               for k in dict.fromkeys([*b, *a]) if a.get(k) != b.get(k))
        else:
            detail = f"{a!r} in the checkpoint but {b!r} now"
        raise ScaleDetectError(f"{where}: {part} differs from the checkpoint's ({detail})")
    extra = sorted(set(old) - set(new))
    if extra:
        raise ScaleDetectError(f"{where}: holds settings this run does not have ({extra}); "
                               "delete it to start afresh")
