"""The ``median`` estimator of Petrini et al. (2021): robust to a few probes with large changes."""

import numpy as np

_ROWS = 512  # rows of the pairwise-distance blocks


def median_pairwise_sq(a: np.ndarray) -> float:
    """Median over the ``P (P - 1) / 2`` unordered pairs ``i < j`` of ``||a_i - a_j||^2``.

    Parameters
    ----------
    a : ``(P, d)``
        Representations, any float dtype (computed in float64).

    Returns
    -------
    float
        numpy's median convention: the mean of the two middle values for an even count.

    Notes
    -----
    Distances come from the Gram matrix of the centred rows,
    ``||a_i - a_j||^2 = n_i + n_j - 2 a_i . a_j`` (clipped at 0), in blocks of ``_ROWS`` rows.
    Holds all pairs: ``4 P (P - 1)`` bytes; time ``O(P^2 d)``.

    """
    a = np.asarray(a, np.float64)
    a = a - a.mean(axis=0)
    P = len(a)
    norms = np.einsum("ij,ij->i", a, a)
    out = np.empty(P * (P - 1) // 2)
    pos = 0
    for lo in range(0, P - 1, _ROWS):
        hi = min(lo + _ROWS, P - 1)
        block = norms[lo:hi, None] + norms[None, lo:] - 2.0 * (a[lo:hi] @ a[lo:].T)
        iu = np.triu_indices(hi - lo, 1, P - lo)
        vals = block[iu]
        out[pos:pos + len(vals)] = vals
        pos += len(vals)
    np.maximum(out, 0.0, out=out)
    return float(np.median(out))


def median_numerator(sq: np.ndarray) -> float:
    """``sum_c median_i sq[i, c]``: per-coordinate median over probes, summed over coordinates."""
    return float(np.median(sq, axis=0).sum(dtype=np.float64))


class MedianCollector:
    r"""Holds every representation and squared change, then computes the median estimator.

    Notes
    -----
    With ``a_i = f_k(x_i)`` flattened, the estimator is

    .. math::

        D^{med}_k = \frac{\sum_c \operatorname{median}_i (f_k(\tau x_i) - a_i)_c^2}
                         {\operatorname{median}_{i<j} \|a_i - a_j\|^2}, \quad
        G^{med}_k = \frac{\sum_c \operatorname{median}_i (f_k(x_i + \eta_i) - a_i)_c^2}
                         {\operatorname{median}_{i<j} \|a_i - a_j\|^2}, \quad
        R^{med}_k = D^{med}_k / G^{med}_k,

    the median over the P probes taken coordinate by coordinate c, the denominator's over the
    ``P(P-1)/2`` distinct pairs (the reference implementation of Petrini et al. takes it over
    all P^2 ordered pairs including ``i = j``, and torch's lower median: an O(1/P) shift of the
    quantile). Squared changes are computed and stored in the representation dtype.

    Memory: three arrays ``(P, d_k)`` per layer (clean, squared diffeo and noise changes), i.e.
    ``3 P sum_k d_k`` times the dtype size, plus ``4 P (P - 1)`` bytes for one layer's pairs
    (P = 4096: 67 MB). Time ``O(P^2 sum_k d_k)``. Use it for moderate P. No standard errors.

    """

    def __init__(self):
        self.clean: list | None = None
        self.sq_diffeo: list | None = None
        self.sq_noise: list | None = None

    def partial(self, clean: list, diffeo: list, noise: list) -> tuple[list, list, list]:
        """A batch's representations and squared changes, not yet appended (thread-safe)."""
        sd = [(b - a) ** 2 for a, b in zip(clean, diffeo, strict=True)]
        sn = [(b - a) ** 2 for a, b in zip(clean, noise, strict=True)]
        return list(clean), sd, sn

    def merge(self, part: tuple[list, list, list]) -> None:
        """Append a batch's ``partial`` (in batch order)."""
        clean, sd, sn = part
        if self.clean is None:
            self.clean, self.sq_diffeo, self.sq_noise = ([[x] for x in y] for y in (clean, sd, sn))
            return
        for store, new in ((self.clean, clean), (self.sq_diffeo, sd), (self.sq_noise, sn)):
            for lst, x in zip(store, new, strict=True):
                lst.append(x)

    def add(self, clean: list, diffeo: list, noise: list) -> None:
        """Append a batch: lists over layers of ``(n, d_k)`` representations."""
        self.merge(self.partial(clean, diffeo, noise))

    def finish(self) -> dict:
        """``D, G, R`` (``(L,)`` float64) and the pieces ``den, dbar, gbar`` (medians)."""
        L = len(self.clean)
        out = {name: np.empty(L) for name in ("D", "G", "R", "den", "dbar", "gbar")}
        for k in range(L):
            a = np.concatenate(self.clean[k])
            self.clean[k] = None  # free as we go
            dbar = median_numerator(np.concatenate(self.sq_diffeo[k]))
            gbar = median_numerator(np.concatenate(self.sq_noise[k]))
            den = median_pairwise_sq(a)
            eps = float(np.finfo(a.dtype).eps) if a.dtype.kind == "f" else 0.0
            scale = float(np.mean(np.einsum("ij,ij->i", a, a, dtype=np.float64)))
            defined = den > 0 and den > (100.0 * eps) ** 2 * scale
            with np.errstate(divide="ignore", invalid="ignore"):
                out["R"][k] = np.float64(dbar) / gbar
                out["D"][k] = dbar / den if defined else np.nan
                out["G"][k] = gbar / den if defined else np.nan
            out["den"][k], out["dbar"][k], out["gbar"][k] = den, dbar, gbar
        return out
