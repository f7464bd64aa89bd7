"""F1 — task gallery: every shape and rule, clean and perturbed (shift, maxent, matched noise)."""

from pathlib import Path

import numpy as np

from .. import perturb, tasks
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from ._data import describe_task
from .style import figure, save, styled

ID = "fig1_gallery"
CAPTION = ("The scale-detection tasks: two features (points, stripes or Gaussian blobs) whose "
           "label says whether they share a block of side ξ (block rule) or lie closer than ξ "
           "(distance rule), shown clean, after a one-pixel shift diffeomorphism, after a smooth "
           "max-entropy diffeomorphism, and with Gaussian noise of the same norm as the shift.")

#: The gallery's tasks (small sizes so single pixels stay visible).
GALLERY = (
    TaskSpec(dim=1, size=32, shape="points", rule="block", xi=8),
    TaskSpec(dim=1, size=32, shape="points", rule="distance", xi=8),
    TaskSpec(dim=1, size=32, shape="blobs", rule="distance", xi=8, blob_width=1.5),
    TaskSpec(dim=2, size=16, shape="points", rule="block", xi=8),
    TaskSpec(dim=2, size=16, shape="points", rule="distance", xi=5, norm="linf"),
    TaskSpec(dim=2, size=16, shape="stripes", rule="block", xi=8),
    TaskSpec(dim=2, size=16, shape="stripes", rule="distance", xi=5),
    TaskSpec(dim=2, size=16, shape="blobs", rule="block", xi=8, blob_width=1.5),
    TaskSpec(dim=2, size=16, shape="blobs", rule="distance", xi=6, blob_width=1.5),
)

COLUMNS = ("clean $x$ (block edges dashed)", "shift diffeo $\\tau x$", "maxent diffeo $\\tau x$",
           "matched noise $x + \\eta$")


def examples(task: TaskSpec, rng, n: int = 64) -> dict:
    """One example of *task*: clean, shifted, maxent-deformed, noised (matched to the shift).

    Parameters
    ----------
    task : TaskSpec
    rng : Generator or int
    n : int
        Batch size used to set the batch-matched noise level sigma.

    Returns
    -------
    dict
        ``images``: float ``(4, N)`` or ``(4, N, N)`` (clean, shift, maxent, noise) of the first
        sample; ``label``; ``positions`` ``(2, p)``; ``sigma`` (noise level, per pixel);
        ``temperature`` (maxent T, the middle of ``temperature_range``).
    """
    rng = np.random.default_rng(rng)
    batch = tasks.sample(task, n, rng)
    shifted = perturb.diffeo(task, Perturbation(diffeo="shift"), batch.images, batch.positions,
                             rng)
    maxent = Perturbation(diffeo="maxent", cutoff=3.0)
    deformed = perturb.diffeo(task, maxent, batch.images, batch.positions, rng)
    sigma = perturb.noise_sigma(batch.images, shifted)
    noisy = perturb.matched_noise(batch.images, shifted, "batch", rng, sigma=sigma)
    images = np.stack([batch.images[0, 0], shifted[0, 0], deformed[0, 0], noisy[0, 0]])
    return {"images": images.astype(float), "label": int(batch.labels[0]),
            "positions": batch.positions[0], "sigma": sigma,
            "temperature": perturb.temperature(maxent, task.size)}


@styled
def render(out_dir, runs=(), results=None, arrays_of=None, seed: int = 3) -> list[Path]:
    """Draw the gallery (no runs needed; *runs*, *results*, *arrays_of* are ignored).

    Returns ``[png, pdf, json]`` of ``fig1_gallery``.
    """
    ratios = [0.55 if t.dim == 1 else 1.0 for t in GALLERY]
    fig, axes = figure(len(GALLERY), 4, width=7.2, height=1.15 * sum(ratios) + 0.6,
                       gridspec_kw={"height_ratios": ratios})
    rows = []
    for i, task in enumerate(GALLERY):
        ex = examples(task, rng=seed + i)
        imgs = ex["images"]
        vmax = float(np.abs(imgs).max())
        for j, ax in enumerate(axes[i]):
            if task.dim == 1:
                u = np.arange(task.size)
                if j:  # the clean image in grey behind the perturbed one
                    ax.plot(u, imgs[0], color="#bbbbbb", lw=1.0, zorder=1)
                ax.plot(u, imgs[j], color="#1f5fa8", lw=1.1, marker=".", ms=2.5, zorder=2)
                ax.set_ylim(min(imgs.min(), 0.0) - 0.05 * vmax, 1.1 * vmax)
                ax.set_xlim(-0.5, task.size - 0.5)
                ax.set_yticks([])
                ax.grid(False)
                if i == len(GALLERY) - 1 or GALLERY[i + 1].dim == 2:
                    ax.set_xlabel("pixel", labelpad=1)
            else:
                ax.imshow(imgs[j], cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                               interpolation="nearest", origin="lower")
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(True)
            if j == 0 and task.rule == "block":
                for edge in np.arange(task.xi, task.size, task.xi) - 0.5:
                    ax.axvline(edge, color="#555555", ls="--", lw=0.7)
                    if task.dim == 2 and task.shape != "stripes":
                        ax.axhline(edge, color="#555555", ls="--", lw=0.7)
            if i == 0:
                ax.set_title(COLUMNS[j])
        text = describe_task(task).replace(", ", "\n", 2)
        axes[i, 0].set_ylabel(f"{text}\ny = {ex['label']:+d}", rotation=0, ha="right",
                              va="center", fontsize=7.5, labelpad=6)
        rows.append({"task": task.to_dict(), "label": ex["label"], "positions": ex["positions"],
                     "sigma": ex["sigma"], "temperature": ex["temperature"],
                     "images": dict(zip(("clean", "shift", "maxent", "noise"), imgs,
                                        strict=True))})
    fig.suptitle("F1  Scale-detection tasks and their perturbations\n1D: clean image in grey "
                 "behind the perturbed one;  2D: red > 0, blue < 0, colour scale per row",
                 fontsize=9.5)
    return save(fig, out_dir, ID, {"caption": CAPTION, "seed": seed, "rows": rows})
