"""Filter spectra: how much of each conv filter lies on each mode of the grid Laplacian.

A filter ``w`` on the ``F`` sites of a 1D conv (``F x F`` in 2D) is expanded on the eigenvectors
``psi_l`` of the graph Laplacian of its support with open boundaries (1D: the path of F sites;
2D: the F x F square, each site linked to its 4 neighbours inside the square). The constant mode
(``lambda = 0``) is what a pooling (averaging) filter uses; high modes are differences between
neighbouring sites. Per layer we report the mean over all ``C_out x C_in`` filters of
``(w . psi_l)^2``, per eigenvalue, and the fraction of it on the constant mode. A pooling net puts
everything on ``lambda = 0``; i.i.d. Gaussian filters spread it evenly, ``1/F^dim`` per mode.

One code path serves numba ``CNN``s, PyTorch modules and plain state dicts: everything is read
through the weights protocol (``diagnostics.weights``).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import require
from .filters import uniform_share
from .weights import read_weights


def path_modes(f: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and orthonormal eigenvectors of the Laplacian of the path of *f* sites.

    Parameters
    ----------
    f : int
        Number of sites, ``f >= 1``.

    Returns
    -------
    eigenvalues : float64 ``(f,)``
        ``lambda_l = 2 - 2 cos(pi l / f)``, ``l = 0 .. f-1`` (increasing).
    vectors : float64 ``(f, f)``
        Column ``l`` is ``psi_l(j) = c_l cos(pi l (j + 1/2) / f)``, ``c_0 = 1/sqrt(f)``,
        ``c_l = sqrt(2/f)`` otherwise (the DCT-II basis), with the sign making ``psi_l(0) > 0``.

    Notes
    -----
    The open-boundary path Laplacian is ``L = D - A`` with degrees 1 at the ends and 2 inside;
    ``L psi_l = lambda_l psi_l`` holds for the cosines above (Strang, "The discrete cosine
    transform", SIAM Review 41, 1999).
    """
    require(isinstance(f, int | np.integer) and f >= 1, "f", "be an integer >= 1", f)
    l_idx = np.arange(f)
    vals = 2.0 - 2.0 * np.cos(np.pi * l_idx / f)
    vals[0] = 0.0
    j = np.arange(f)[:, None] + 0.5
    vecs = np.cos(np.pi * j * l_idx[None, :] / f)
    vecs *= np.where(l_idx == 0, np.sqrt(1.0 / f), np.sqrt(2.0 / f))[None, :]
    return vals, vecs


def grid_modes(f: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenbasis of the open-boundary grid Laplacian on ``f^dim`` sites, sorted by eigenvalue.

    Parameters
    ----------
    f : int
        Side of the filter support.
    dim : int
        1 (path) or 2 (square).

    Returns
    -------
    eigenvalues : float64 ``(f^dim,)``
        Increasing; in 2D ``lambda_a + lambda_b`` of two path eigenvalues.
    vectors : float64 ``(f^dim, f^dim)``
        Orthonormal columns; in 2D ``psi_a (x) psi_b`` flattened in C order (row index first,
        as a weight ``[..., F, F]`` is flattened). Ties (``(a, b)`` and ``(b, a)``) keep the order
        of ``(a, b)``: a stable sort.
    """
    require(dim in (1, 2), "dim", "be 1 or 2", dim)
    vals, vecs = path_modes(f)
    if dim == 1:
        return vals, vecs
    lam = (vals[:, None] + vals[None, :]).ravel()
    psi = np.einsum("ia,jb->ijab", vecs, vecs).reshape(f * f, f * f)
    order = np.argsort(lam, kind="stable")
    return lam[order], psi[:, order]


@dataclass(frozen=True)
class LayerSpectrum:
    """Filter spectrum of one conv layer.

    Attributes
    ----------
    k : int
        1-based index among the model's conv layers.
    name : str
        The weight's name without ``.weight`` (``conv3``, ``features.4``).
    shape : tuple of int
        The weight's shape ``(C_out, C_in, F[, F])``.
    eigenvalues : float64 ``(F^dim,)``
        Laplacian eigenvalues, increasing (``eigenvalues[0] = 0``, the constant mode).
    power : float64 ``(F^dim,)``
        ``mean over filters of (w . psi_l)^2``; sums to the mean squared filter norm.
    constant_fraction : float
        ``power[0] / sum(power)`` (NaN if every filter is zero), computed as ``uniform_share`` of
        the weight (the same quantity: ``psi_0 = F^(-dim/2)``, so ``(w . psi_0)^2 =
        F^dim mean(w)^2``). 1 for a 1 x 1 kernel, whose only mode is the constant one.
    """

    k: int
    name: str
    shape: tuple
    eigenvalues: np.ndarray
    power: np.ndarray
    constant_fraction: float

    def to_dict(self) -> dict:
        """Plain-JSON form (the attributes, arrays as lists)."""
        return {"k": self.k, "name": self.name, "shape": list(self.shape),
                "eigenvalues": self.eigenvalues.tolist(), "power": self.power.tolist(),
                "constant_fraction": self.constant_fraction}


def filter_power(weight) -> tuple[np.ndarray, np.ndarray]:
    """Mean squared projection of every filter of *weight* on each Laplacian eigenvector.

    Parameters
    ----------
    weight : array ``(C_out, C_in, F)`` or ``(C_out, C_in, F, F)``
        A conv weight (1D or square 2D kernel).

    Returns
    -------
    eigenvalues, power : float64 ``(F^dim,)``
        ``power_l = (1 / (C_out C_in)) sum_{c, c'} (w_{c c'} . psi_l)^2``.

    Notes
    -----
    For i.i.d. ``N(0, s^2)`` entries each projection is ``N(0, s^2)`` (orthonormal basis), so
    ``power_l`` estimates ``s^2`` for every l with standard error ``s^2 sqrt(2 / (C_out C_in))``.
    """
    w = np.asarray(weight, dtype=np.float64)
    ok = w.ndim == 3 or (w.ndim == 4 and w.shape[2] == w.shape[3])
    require(ok and w.size > 0, "weight.shape", "be (C_out, C_in, F) or (C_out, C_in, F, F)",
            w.shape)
    dim = w.ndim - 2
    vals, vecs = grid_modes(w.shape[2], dim)
    proj = w.reshape(w.shape[0] * w.shape[1], -1) @ vecs
    return vals, np.mean(proj ** 2, axis=0)


def conv_weights(model) -> dict[str, np.ndarray]:
    """The conv weights of *model*, in order: ``name -> (C_out, C_in, F[, F])``.

    The conv layers of ``diagnostics.read_weights(model)`` with 3 dimensions (1D kernel) or 4
    with a square kernel; non-square kernels (e.g. 1 x 3) have no F x F support and are left out.
    """
    out = {}
    for c in read_weights(model).convs:
        a = c.weight
        if a.ndim == 3 or (a.ndim == 4 and a.shape[2] == a.shape[3]):
            out[c.name] = a
    return out


def spectra(model) -> list[LayerSpectrum]:
    """Filter spectrum of every conv layer of *model*.

    Parameters
    ----------
    model : CNN, torch.nn.Module or mapping name -> array
        Any model with a registered weights backend: a numba ``CNN`` (layers ``conv1`` ...
        ``convK``), a PyTorch module once ``scaledetect.deep`` is imported (named by its module
        paths) or a state dict of arrays.

    Returns
    -------
    list of LayerSpectrum
        One per conv weight (see ``conv_weights``), ``k = 1, 2, ...``.
    """
    layers = conv_weights(model)
    require(len(layers) > 0, "model", "have at least one conv weight", type(model).__name__)
    out = []
    for k, (name, w) in enumerate(layers.items(), start=1):
        vals, power = filter_power(w)
        frac = uniform_share(w) if power.sum() > 0 else float("nan")
        out.append(LayerSpectrum(k, name, tuple(w.shape), vals, power, frac))
    return out
