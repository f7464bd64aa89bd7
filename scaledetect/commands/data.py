"""``scaledetect data``: generate a scale-detection data set, optionally picture a few examples."""

import argparse
import contextlib
from pathlib import Path

import numpy as np

from .._random import as_rng
from ..errors import require
from ..io import atomic_path, dumps_json
from ..perturb import diffeo, matched_noise, noise_sigma, temperature
from ..perturb.spec import Perturbation
from ..tasks import TaskSpec, sample
from ._common import (
    add_perturbation_args,
    add_task_args,
    check_output,
    perturbation_from_args,
    require_data_memory,
    seed,
    task_from_args,
)

#: Samples used to set the batch-matched noise level of the picture, and rows shown.
_SIGMA_SAMPLES = 256
_ROWS = 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task flags, ``--count --seed --out --show`` and the perturbation flags (for ``--show``)."""
    add_task_args(p)
    g = p.add_argument_group("output")
    g.add_argument("--count", type=int, default=1000, help="number of samples (default 1000)")
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    g.add_argument("--out", default=None,
                   help="write X.npz with arrays images, labels, positions, config")
    g.add_argument("--show", default=None, metavar="PNG",
                   help="picture a few examples with their diffeos and matched noise")
    add_perturbation_args(p)


def run(args: argparse.Namespace) -> int:
    """Validate everything, sample, then write the picture and the arrays (atomically)."""
    task = task_from_args(args)
    pert = perturbation_from_args(args)
    require(args.count >= 1, "count", "be an integer >= 1", args.count)
    require(args.out is not None or args.show is not None, "--out", "be given (or --show PNG)",
            None)
    if args.out is not None:
        check_output("--out", args.out, {})
    if args.show is not None:
        check_output("--show", args.show, {"--out": args.out})
    require_data_memory(task, args.count)
    rng = as_rng(args.seed)
    batch = sample(task, args.count, rng)
    figure = _figure(task, pert, batch, rng) if args.show else None
    config = {"task": task.to_dict(), "seed": args.seed, "count": args.count}
    _write(args.out, args.show, figure, images=batch.images, labels=batch.labels,
           positions=batch.positions, config=np.array(dumps_json(config)))
    counts = {y: int(np.sum(batch.labels == y)) for y in (1, -1)}
    wrote = " and ".join(p for p in (args.out, args.show) if p)
    print(f"wrote {wrote}: {args.count} images of shape {batch.images.shape[1:]}, "
          f"{counts[1]} with y=+1, {counts[-1]} with y=-1")
    return 0


def _write(out: str | None, show: str | None, figure, **arrays: np.ndarray) -> None:
    """Write the arrays to *out*, then the picture to *show*: both files or neither.

    Both are first written to temporary files next to their targets; the data is renamed into
    place first, the picture second, and the data is removed again if the picture fails.
    """
    with contextlib.ExitStack() as stack:
        tmp_png = stack.enter_context(atomic_path(show, suffix=".png")) if show else None
        tmp_npz = stack.enter_context(atomic_path(out, suffix=".npz")) if out else None
        if tmp_npz is not None:
            np.savez(tmp_npz, **arrays)
        if tmp_png is not None:
            figure.savefig(tmp_png, format="png", dpi=110)
        try:
            stack.pop_all().close()  # renames: the data (entered last) first, then the picture
        except BaseException:
            if out and tmp_png is not None:
                Path(out).unlink(missing_ok=True)
            raise


def _rule_text(task: TaskSpec) -> str:
    if task.rule == "block":
        return f"y=+1 iff both features lie in the same block of side xi={task.xi:g}"
    kind = ("periodic " if task.periodic else "") + (f"{task.norm} " if task.coords == 2 else "")
    text = f"y=+1 iff the {kind}distance between the features is < "
    if not task.gap:
        return text + f"xi={task.xi:g}"
    return text + (f"{task.xi - task.gap / 2:g}, y=-1 iff >= {task.xi + task.gap / 2:g} "
                   f"(xi={task.xi:g}, gap={task.gap:g}; in between: excluded)")


def _figure(task: TaskSpec, pert: Perturbation, batch, rng: np.random.Generator):
    """Rows: examples (both classes); columns: clean, shift diffeo, maxent diffeo, matched noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = min(len(batch.labels), _SIGMA_SAMPLES)
    x, pos = batch.images[:m], batch.positions[:m]
    shifted = diffeo(task, Perturbation(diffeo="shift", delta=pert.delta), x, pos, rng)
    maxent = Perturbation(diffeo="maxent", temperature=pert.temperature, cutoff=pert.cutoff,
                          interp=pert.interp)
    smooth = diffeo(task, maxent, x, pos, rng)
    matched = shifted if pert.diffeo == "shift" else smooth
    noisy = matched_noise(x, matched, pert.noise_match, rng)
    rows = _pick_rows(batch.labels[:m])
    T = temperature(maxent, task.size)
    titles = ["clean image x",
              "shift diffeo: each feature\nmoved 1 px (or kept)" if task.shape != "blobs"
              else f"shift diffeo: each blob\nmoved {pert.delta:g} px (or kept)",
              f"maxent diffeo (T={T:.2g}, cut={pert.cutoff:g},\n{pert.interp} interpolation)",
              f"x + Gaussian noise, norm matched\nto the {pert.diffeo} diffeo "
              f"({pert.noise_match}, sigma={noise_sigma(x, matched):.2g})"]
    columns = [x, shifted, smooth, noisy]
    fig, axes = plt.subplots(len(rows), 4, figsize=(13, 2.9 * len(rows) + 0.9), squeeze=False)
    vmax = float(np.abs(x[rows]).max())
    for r, i in enumerate(rows):
        for c, images in enumerate(columns):
            ax = axes[r, c]
            img = images[i, 0]
            if task.dim == 1:
                ax.plot(np.arange(task.size), img, lw=1, drawstyle="steps-mid")
                ax.set_ylim(-1.15 * vmax, 1.15 * vmax)
                ax.set_xlabel("pixel")
            else:
                ax.imshow(img, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
            if task.rule == "block":
                for b in np.arange(task.xi, task.size, task.xi) - 0.5:
                    ax.axvline(b, color="0.6", lw=0.6, ls=":")
                    if task.dim == 2 and task.shape != "stripes":
                        ax.axhline(b, color="0.6", lw=0.6, ls=":")
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r, 0].set_ylabel(f"example {r + 1}\nlabel y = {int(batch.labels[i]):+d}", fontsize=10)
    shape = {"points": "two active pixels", "stripes": "two stripes (full columns)",
             "blobs": f"two Gaussian blobs (width {task.blob_width:g} px"
                      + (", wrapping around the edges)" if task.periodic else ")")}[task.shape]
    note = "\n(dotted lines: block borders)" if task.rule == "block" else ""
    fig.suptitle(f"scaledetect data: {task.dim}D images of side N={task.size} with {shape}; "
                 f"{_rule_text(task)}{note}", fontsize=10)
    fig.tight_layout()
    return fig


def _pick_rows(labels: np.ndarray) -> list[int]:
    """Up to ``_ROWS`` indices, alternating +1 and -1 examples while both are available."""
    plus, minus = list(np.flatnonzero(labels == 1)), list(np.flatnonzero(labels == -1))
    rows = []
    while len(rows) < _ROWS and (plus or minus):
        for group in (plus, minus):
            if group and len(rows) < _ROWS:
                rows.append(int(group.pop(0)))
    return rows
