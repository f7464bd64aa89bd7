# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A guided tour of scaledetect
#
# Deep CNNs trained on images become *less* sensitive to small deformations of their input and
# *more* sensitive to white noise as the signal goes deeper. Tomasini, Petrini, Cagnetta & Wyart
# (2023) explain both with **spatial pooling**: averaging neighbouring units washes out a small
# displacement, but noise that has gone through a ReLU has a positive mean, and averaging keeps
# that mean while the signal shrinks — the noise *piles up*.
#
# This tour walks through the whole pipeline in well under a minute:
#
# 1. build a scale-detection task and look at a few samples;
# 2. perturb them: a one-pixel shift (a tiny diffeomorphism) and Gaussian noise of the same norm;
# 3. push them through an idealized average-pooling net;
# 4. watch the noise pile up, layer by layer;
# 5. measure the sensitivities D_k, G_k, R_k and compare with the exact closed form;
# 6. train a small CNN and measure it the same way.
#
# Run it as a script (`python analysis/tour.py [OUT_DIR]`) or open it as a notebook with
# jupytext. Plots go to `OUT_DIR` (default: the `SCALEDETECT_TOUR_OUT` environment variable, else
# `figures/tour`).

# %%
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from scaledetect import NetSpec, Perturbation, TaskSpec, nn, perturb, sensitivity, tasks, theory
from scaledetect.plots import style

OUT = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else
           os.environ.get("SCALEDETECT_TOUR_OUT", "figures/tour"))
OUT.mkdir(parents=True, exist_ok=True)
START = time.perf_counter()
print(f"plots go to {OUT}/")

# %% [markdown]
# ## 1. A task
#
# A 1D image of N = 64 pixels holds two active pixels ("points"). The **block rule** with
# scale ξ = 16 labels the image +1 when both points fall in the same block of 16 pixels, -1
# otherwise. Images are scaled so that the mean of x² over pixels is 1. Samples are drawn
# class-balanced: half +1, half -1.

# %%
task = TaskSpec(dim=1, size=64, shape="points", rule="block", xi=16)
batch = tasks.sample(task, 8, rng=0)
print("images", batch.images.shape, batch.images.dtype)
for pos, y in zip(batch.positions[:4], batch.labels[:4], strict=True):
    i, j = pos[:, 0].astype(int)
    print(f"  points at {i:2d} and {j:2d}: blocks {i // 16} and {j // 16} -> label {y:+d}")
print("mean of x^2 per image:", np.round((batch.images**2).mean(axis=(1, 2)), 3))

# %% [markdown]
# ## 2. Perturbations
#
# The **shift** diffeomorphism moves each point by one pixel (a move that would change the label
# or merge the points is undone). The **matched noise** is Gaussian with the same squared norm
# on average, sigma² = mean ||τx - x||² / N, so that at the input both perturbations are equally
# large: G_0 = D_0.

# %%
shifted = perturb.diffeo(task, Perturbation(diffeo="shift"), batch.images, batch.positions,
                         rng=1)
sigma = perturb.noise_sigma(batch.images, shifted)
noisy = perturb.matched_noise(batch.images, shifted, "batch", rng=2, sigma=sigma)
change_diffeo = ((shifted - batch.images) ** 2).sum(axis=(1, 2))
change_noise = ((noisy - batch.images) ** 2).sum(axis=(1, 2))
print(f"noise level sigma = {sigma:.3f} per pixel")
print(f"mean ||tau x - x||^2 = {change_diffeo.mean():.1f},  mean ||eta||^2 = "
      f"{change_noise.mean():.1f}")

with style.context():
    fig, axes = style.figure(3, 1, width=6.0, height=4.2, sharex=True)
    u = np.arange(task.size)
    for ax, img, title in zip(axes[:, 0], (batch.images, shifted, noisy),
                              ("clean x", "shift diffeo τx", "matched noise x + η"),
                              strict=True):
        ax.plot(u, batch.images[0, 0], color="#bbbbbb", lw=1.0)
        ax.plot(u, img[0, 0], color="#1f5fa8", marker=".", ms=3)
        for edge in range(16, 64, 16):
            ax.axvline(edge - 0.5, color="#555555", ls="--", lw=0.7)
        ax.set_title(f"{title}   (label {batch.labels[0]:+d}; block edges dashed)", fontsize=8.5)
        ax.set_ylabel("pixel value")
    axes[-1, 0].set_xlabel("pixel")
    style.save(fig, OUT, "tour_perturbations", {"clean": batch.images[0, 0],
                                                "shift": shifted[0, 0], "noise": noisy[0, 0]})

# %% [markdown]
# ## 3. Through a pooling net
#
# The idealized **pooling net** has one channel, filters of size F = 2 with both weights 1/2,
# stride s = 2, no bias and a ReLU after every layer: each layer halves the resolution by
# averaging pairs. `forward(x, layers=True)` returns every layer's representation.

# %%
pool_spec = NetSpec(dim=1, size=64, depth=6, filter=2, stride=2, width=1, act="relu",
                    bias=False)
pool = nn.pooling_net(pool_spec)
reps = pool.forward(batch.images, layers=True)
for k, f in enumerate(reps[:-1]):
    print(f"  layer {k}: shape {f.shape}")
print("  output:", reps[-1].shape)

# %% [markdown]
# ## 4. Watch the noise pile up
#
# Feed *pure* noise. After the first ReLU every unit is relu(g) with g ~ N(0, v), v = sigma²/2:
# its mean is sqrt(v/2π) > 0 and its variance v(1/2 - 1/2π). Averaging pairs keeps the mean and
# halves the variance. With tanh the mean is zero, so only shrinking fluctuations remain.

# %%
rng = np.random.default_rng(3)
eta = rng.standard_normal((256, 1, 64))
print(" k   relu mean  relu std   tanh mean  tanh std   closed form (relu) mean, std")
tanh = nn.pooling_net(NetSpec(**{**pool_spec.to_dict(), "act": "tanh"}))
r_layers = pool.forward(eta, layers=True)[:-1]
t_layers = tanh.forward(eta, layers=True)[:-1]
v = 1.0 / 2
for k, (fr, ft) in enumerate(zip(r_layers, t_layers, strict=True)):
    closed = ("" if k == 0 else f"   {math.sqrt(v / (2 * math.pi)):.3f}, "
              f"{math.sqrt(v * (0.5 - 1 / (2 * math.pi)) / 2 ** (k - 1)):.3f}")
    print(f" {k}   {fr.mean():8.3f}  {fr.std():8.3f}   {ft.mean():8.3f}  {ft.std():8.3f}{closed}")

# %% [markdown]
# ## 5. Sensitivities: simulation vs closed form
#
# On a probe set x_1..x_P, with den_k the mean squared distance between two probes at layer k:
# D_k = mean ||f_k(τx) - f_k(x)||² / den_k, G_k the same with noise, R_k = D_k / G_k.
# `sensitivity.measure` estimates them by Monte Carlo with standard errors;
# `theory.predict` computes them exactly for the pooling net.

# %%
exact = theory.predict(task, pool_spec)
mc = sensitivity.measure(pool, task, probe=4096, rng=0)
print("exact (theory.predict):")
print(exact.table())
print("Monte Carlo (sensitivity.measure, P = 4096):")
print(mc.table())
z = np.abs(mc.G - exact.G) / mc.G_se
print("largest |MC - exact| / s.e. for G_k:", f"{np.nanmax(z):.2f}",
      "(within 3 s.e. expected)")

with style.context():
    fig, axes = style.figure(1, 2, width=8.0, height=3.0)
    k = np.arange(pool_spec.depth + 1)
    for ax, q in zip(axes[0], ("D", "G"), strict=True):
        style.theory_line(ax, k, getattr(exact, q)[:-1], label="exact (theory.predict)",
                          color=style.KIND_COLORS["theory"])
        style.errorbars(ax, k, getattr(mc, q)[:-1], getattr(mc, f"{q}_se")[:-1],
                        label="Monte Carlo (P = 4096)", color=style.KIND_COLORS["pooling"])
        ax.set_yscale("log")
        style.plain_log_ticks(ax)
        ax.set_xlabel("layer k")
        ax.set_ylabel(style.QUANTITY_LABELS[q])
        ax.legend()
    fig.suptitle("Pooling net (1D, N=64, ξ=16, F=s=2, ReLU): theory vs simulation", fontsize=9.5)
    style.save(fig, OUT, "tour_theory_vs_mc", {
        "k": k, "exact": {"D": exact.D, "G": exact.G}, "mc": {"D": mc.D, "G": mc.G,
                                                              "D_se": mc.D_se, "G_se": mc.G_se}})

# %% [markdown]
# ## 6. Train a small CNN and measure it
#
# A CNN of the same geometry with 16 channels, biases, a mean-field readout, hinge loss and
# SGD: the recipe of SPEC section 8, shrunk to run in seconds (N = 32, ξ = 8, K = 5, 256
# training points). It trains until it classifies every training point, then on for twice as
# many epochs — the continuation is what lets the first layers learn to pool.
#
# The paper's claims to look for: after training, R_k falls with depth far below its value at
# initialization (where it stays of order one), and G_k climbs in the deep layers.
# `scaledetect reproduce --preset quick` runs the real experiment with several seeds.

# %%
small_task = TaskSpec(dim=1, size=32, shape="points", rule="block", xi=8)
cnn_spec = NetSpec(dim=1, size=32, depth=5, filter=2, stride=2, width=16, act="relu", bias=True,
                   param="mf", alpha=1.0, gain=math.sqrt(2))
train_spec = nn.TrainSpec(n_train=256, n_test=256, max_epochs=60, continue_factor=2.0)
t0 = time.perf_counter()
trained = nn.train(small_task, cnn_spec, train_spec, rng=0, progress=False)
final = trained.history.final
print(f"trained {trained.history.epochs} epochs in {time.perf_counter() - t0:.1f} s: "
      f"train error {final.train_error:.3f}, test error {final.test_error:.3f} "
      f"(stop: {trained.history.stop_reason})")
before = sensitivity.measure(trained.init, small_task, probe=1024, rng=1)
after = sensitivity.measure(trained.model, small_task, probe=1024, rng=1)
print("   k   R_k at init   R_k trained   G_k at init   G_k trained")
for i, layer in enumerate(after.layers):
    print(f" {layer!s:>3}  {before.R[i]:11.3g}   {after.R[i]:11.3g}   {before.G[i]:11.3g}   "
          f"{after.G[i]:11.3g}")

# %% [markdown]
# ## Where next
#
# - `scaledetect theory --json ...` and `scaledetect sensitivity ...` do steps 5 from the shell;
# - `python analysis/fig3_strided.py --quick` redraws one figure of the paper;
# - `scaledetect reproduce --preset quick` regenerates every figure and the report.

# %%
print(f"tour finished in {time.perf_counter() - START:.1f} s; plots in {OUT}/")
