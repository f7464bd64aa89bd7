"""Maximum-entropy smooth deformations (Petrini et al. 2021), in numpy, 1D and 2D.

References
----------
L. Petrini, A. Favero, M. Geiger, M. Wyart, "Relative stability toward diffeomorphisms indicates
performance in deep nets", NeurIPS 2021; code: github.com/pcsl-epfl/diffeomorphism.
"""

import math

import numpy as np

from .._random import as_rng
from ..errors import require, require_choice
from .spec import INTERPOLATIONS

#: Width (pixels) of the Gaussian interpolation kernel, as in the authors' code.
GAUSSIAN_SIGMA = 0.4715
#: The Gaussian kernel is truncated at +-3 pixels around the nearest pixel: the first dropped
#: weight is below exp(-3.5^2 / (2 * 0.4715^2)) = 1.1e-12 of the largest.
_GAUSSIAN_REACH = 3


def _check(size: int, cutoff: float, temperature: float | None = None) -> None:
    require(int(size) == size and size >= 2, "size", "be an integer >= 2", size)
    require(cutoff >= 1, "cutoff", "be >= 1", cutoff)
    if temperature is not None:
        require(temperature >= 0, "temperature", "be >= 0", temperature)


def _modes(dim: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Mode numbers k = 1..M and the standard deviation per unit T of every coefficient.

    Returns ``k (M,)`` and ``e`` of shape ``(M,)`` (1D) or ``(M, M)`` (2D) with
    ``e = 1/|k|`` for kept modes (``|k|^2 < (cutoff + 1/2)^2``) and 0 otherwise.
    """
    k = np.arange(1, int(cutoff + 1.5), dtype=np.float64)
    r2 = k**2 if dim == 1 else k[:, None] ** 2 + k[None, :] ** 2
    return k, np.where(r2 < (cutoff + 0.5) ** 2, 1 / np.sqrt(r2), 0.0)


def _sines(size: int, k: np.ndarray) -> np.ndarray:
    """``sin(pi k u)`` at the pixel coordinates ``u = x / (N - 1)``, ``(N, M)``."""
    u = np.linspace(0.0, 1.0, size)
    return np.sin(np.pi * u[:, None] * k[None, :])


def maxent_field(dim: int, size: int, n: int, temperature: float, cutoff: float,
                 rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Random max-entropy displacement fields, in pixels.

    Parameters
    ----------
    dim : int
        1 or 2.
    size : int
        Image side N.
    n : int
        Number of fields.
    temperature : float
        T >= 0.
    cutoff : float
        Modes with ``i^2 + j^2 < (cutoff + 1/2)^2`` (1D: ``i < cutoff + 1/2``) are kept.
    rng : Generator, int or None

    Returns
    -------
    float64 ``(n, dim, N)`` or ``(n, dim, N, N)``
        Component c displaces along image axis ``2 + c``.

    Notes
    -----
    With pixel coordinates ``u = x / (N - 1)`` in [0, 1] (as ``linspace(0, 1, N)`` in the
    authors' code) each component is
    ``tau(u) = N sum_{ij} C_ij sin(pi i u_0) sin(pi j u_1)``, ``C_ij ~ N(0, T / (i^2 + j^2))``
    independent (1D: ``N sum_i C_i sin(pi i u)``, ``C_i ~ N(0, T / i^2)``); it vanishes on the
    border. Computed as the matrix product ``S C S^T`` with ``S = sin(pi u k)``.
    """
    require_choice("dim", dim, (1, 2))
    require(isinstance(n, (int, np.integer)) and n >= 0, "n", "be an integer >= 0", n)
    _check(size, cutoff, temperature)
    rng = as_rng(rng)
    k, e = _modes(dim, cutoff)
    S = _sines(size, k)
    c = rng.standard_normal((n, dim) + e.shape) * (math.sqrt(temperature) * e)
    if dim == 1:
        return size * (c @ S.T)
    return size * (S @ c @ S.T)


def temperature_range(size: int, cutoff: float) -> tuple[float, float]:
    """Return Petrini et al.'s ``(T1, T2)``: 1/2-pixel typical displacement, largest T w/o overhang.

    Notes
    -----
    ``T1 = 1 / (pi N^2 ln c)``, ``T2 = 4 / (pi^3 c^2 ln c)`` (needs ``cutoff > 1``).
    """
    _check(size, cutoff)
    require(cutoff > 1, "cutoff", "be > 1 for temperature_range (ln cutoff > 0)", cutoff)
    log = math.log(cutoff)
    return 1 / (math.pi * size**2 * log), 4 / (math.pi**3 * cutoff**2 * log)


def default_temperature(size: int, cutoff: float) -> float:
    """Geometric middle ``sqrt(T1 T2)`` of ``temperature_range``: the T used when none is given."""
    t1, t2 = temperature_range(size, cutoff)
    return math.sqrt(t1 * t2)


def typical_displacement(temperature: float, cutoff: float, size: int) -> float:
    """Return the published typical displacement ``N sqrt(pi T ln c) / 2`` in pixels.

    Notes
    -----
    It is the large-cutoff asymptote of the RMS *length* of the 2D displacement vector at the
    image centre, ``sqrt(2) * displacement_rms(T, c, N)``: at the centre only odd modes count and
    ``sum_{odd i, j; i^2+j^2 < (c+1/2)^2} 1/(i^2+j^2) ~ (pi/8) ln c``. The exact value converges
    slowly; measured ratios ``typical_displacement / displacement_rms`` (one component, 2D,
    centre) are 1.110 (c = 3), 1.311 (c = 15), 1.354 (c = 100), tending to sqrt(2) = 1.414; for
    the vector length the ratios are 0.785, 0.927, 0.958, tending to 1. In 1D the mode sum
    converges (no ln c): ``displacement_rms -> N sqrt(T) pi / sqrt(8)`` at the centre.
    """
    _check(size, cutoff, temperature)
    return size * math.sqrt(math.pi * temperature * math.log(cutoff)) / 2


def displacement_rms(temperature: float, cutoff: float, size: int, at=None, dim: int = 2) -> float:
    """Exact RMS (pixels) of one displacement component of ``maxent_field`` at a point.

    Parameters
    ----------
    temperature, cutoff, size
        As in ``maxent_field``.
    at : float, sequence of ``dim`` floats, or None
        Pixel coordinates (along image axes 2, 3); ``None``: the centre ``(N - 1) / 2``.
    dim : int
        1 or 2.

    Notes
    -----
    ``E[tau_c(u)^2] = N^2 T sum_{ij kept} sin^2(pi i u_0) sin^2(pi j u_1) / (i^2 + j^2)``
    (1D: ``N^2 T sum_i sin^2(pi i u) / i^2``) with ``u = at / (N - 1)``.
    """
    require_choice("dim", dim, (1, 2))
    _check(size, cutoff, temperature)
    at = np.full(dim, (size - 1) / 2) if at is None else np.broadcast_to(
        np.asarray(at, np.float64), (dim,))
    k, e = _modes(dim, cutoff)
    s2 = np.sin(np.pi * np.outer(at / (size - 1), k)) ** 2  # (dim, M)
    weight = s2[0] if dim == 1 else s2[0][:, None] * s2[1][None, :]
    return size * math.sqrt(temperature * float((weight * e**2).sum()))


def _gather(x: np.ndarray, idx: tuple[np.ndarray, ...]) -> np.ndarray:
    """``out[n, ch, pixel] = x[n, ch, idx(n, pixel)]`` for integer index arrays ``(n, N[, N])``."""
    n, ch = x.shape[:2]
    flat = idx[0] if len(idx) == 1 else idx[0] * x.shape[-1] + idx[1]
    flat = np.broadcast_to(flat.reshape(n, 1, -1), (n, ch, flat[0].size))
    return np.take_along_axis(x.reshape(n, ch, -1), flat, axis=2).reshape(x.shape)


def deform(images: np.ndarray, field: np.ndarray, interp: str = "linear",
           periodic: bool = False) -> np.ndarray:
    """Deform images by a displacement field: ``out(x) = image(x - tau(x))``.

    Parameters
    ----------
    images : ``(n, C, N)`` or ``(n, C, N, N)``
    field : ``(n, dim, N[, N])`` (or ``(1, dim, ...)``, broadcast), displacement in pixels
    interp : str
        ``linear`` (bilinear), ``nearest`` (rounded source pixel) or ``gaussian`` (weights
        ``exp(-|source - pixel|^2 / (2 s^2))`` normalised over the image's pixels, ``s =
        GAUSSIAN_SIGMA = 0.4715``; truncated at +-3 pixels, relative error < 1e-11).
    periodic : bool
        The image is a torus: source coordinates wrap around the edges (``mod N``). Otherwise
        they are clamped to ``[0, N - 1]``. Use the task's ``periodic`` flag, so that rendering,
        labels and deformation share one boundary convention.

    Returns
    -------
    array like *images* (same dtype if floating, else float64)

    Notes
    -----
    Without ``periodic``, source coordinates are clamped to ``[0, N - 1]`` (edge pixels repeat),
    as in the authors' code; the max-entropy field vanishes on the border, so the convention
    only matters for large T. A zero
    field is the identity for ``linear`` and ``nearest``; ``gaussian`` then still smooths (each
    pixel keeps weight 0.83 in 1D, 0.68 in 2D), so its ``||tau x - x||`` is not 0 at T = 0.
    """
    require_choice("interp", interp, INTERPOLATIONS)
    x = np.asarray(images)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    src, index = _sources(x, field, periodic)
    if interp == "nearest":
        return _gather(x, tuple(index(np.rint(s).astype(np.int64)) for s in src))
    options = _taps(src, interp, index, x.shape[-1], periodic)
    out = np.zeros(x.shape, np.float64)
    combos = options[0] if len(src) == 1 else [(a, b) for a in options[0] for b in options[1]]
    for combo in combos:
        parts = (combo,) if len(src) == 1 else combo
        weight = np.prod([w for _, w in parts], axis=0)[:, None]
        out += weight * _gather(x, tuple(i for i, _ in parts))
    return out.astype(x.dtype)


def _sources(x: np.ndarray, field, periodic: bool):
    """Source coordinates ``x - tau(x)`` of every pixel, one ``(n, N[, N])`` array per axis,
    wrapped (periodic) or clamped to ``[0, N - 1]``; and the matching pixel-index function.
    """
    dim = x.ndim - 2
    require(dim in (1, 2) and (dim == 1 or x.shape[-1] == x.shape[-2]), "images.shape",
            "be (n, C, N) or (n, C, N, N)", x.shape)
    f = np.asarray(field, np.float64)
    require(f.shape[1:] == (dim,) + x.shape[2:] and f.shape[0] in (1, x.shape[0]),
            "field.shape", f"be (n, {dim}) + image shape {x.shape[2:]}", f.shape)
    n, N = x.shape[0], x.shape[-1]
    f = np.broadcast_to(f, (n,) + f.shape[1:])
    grids = np.meshgrid(*([np.arange(N, dtype=np.float64)] * dim), indexing="ij")
    src = [grids[c] - f[:, c] for c in range(dim)]
    src = [np.mod(s, N) if periodic else np.clip(s, 0, N - 1) for s in src]

    def index(i: np.ndarray) -> np.ndarray:  # a pixel index, wrapped or clamped
        return np.mod(i, N) if periodic else np.clip(i, 0, N - 1)

    return src, index


def _taps(src: list, interp: str, index, N: int, periodic: bool) -> list:
    """Per axis, the ``(pixel index, weight)`` pairs an interpolated value sums over."""
    if interp == "linear":
        lo = [np.floor(s).astype(np.int64) for s in src]
        return [[(index(lo[c]), 1 - (src[c] - lo[c])), (index(lo[c] + 1), src[c] - lo[c])]
                for c in range(len(src))]
    options = []
    for s in src:
        base = np.rint(s).astype(np.int64)
        idx = [base + o for o in range(-_GAUSSIAN_REACH, _GAUSSIAN_REACH + 1)]
        w = [np.where(periodic | ((i >= 0) & (i < N)),
                      np.exp(-((i - s) ** 2) / (2 * GAUSSIAN_SIGMA**2)), 0.0) for i in idx]
        total = sum(w)
        options.append([(index(i), wi / total) for i, wi in zip(idx, w, strict=True)])
    return options
