"""Data terms of the pooling-net theory by enumeration: den_k and the diffeo numerators.

Every valid configuration and every ``shift`` outcome is enumerated (``Setup.chunks``); for
ReLU and linear nets the sums are Gram lookups of integer count profiles (exact zeros stay 0),
for the propagated activations (tanh, ...) explicit representations (``DataStats``).
``_translation`` computes the same block-rule sums without enumerating pairs.
"""

import numpy as np

from .. import perturb, tasks
from ..activations import PROPAGATED
from ..errors import ScaleDetectError
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from ._operators import Operators, unit_images

__all__ = ["CHUNK_FLOATS", "DataStats", "Setup", "count_scales", "data_counts", "diff_norms",
           "r2_norms"]

#: Floats held by one chunk of rendered unit images (bounds the memory of ``predict``).
CHUNK_FLOATS = 1 << 22


class Setup:
    """Everything that does not depend on the configuration chunk."""

    def __init__(self, task: TaskSpec, net: NetSpec, pert: Perturbation):
        self.task, self.net, self.pert = task, net, pert
        self.d, self.F, self.K = net.dim, net.filter, net.depth
        self.p = task.coords
        self.ops = Operators(net)
        pos, y = tasks.enumerate_configs(task)
        keep = y != 0
        self.pos, self.y = pos[keep].astype(np.int64), y[keep]
        mp, mm = int(np.sum(self.y > 0)), int(np.sum(self.y < 0))
        self.w = np.where(self.y > 0, 0.5 / mp, 0.5 / mm)
        self.M = len(self.y)
        probe = self.pos[: min(64, self.M)].astype(np.float64)
        img = tasks.render(task, probe).reshape(len(probe), -1).astype(np.float64)
        unit = unit_images(task.shape, self.d, task.size, probe)
        self.a = float(img.max())
        if not np.allclose(img, self.a * unit, rtol=1e-6, atol=1e-6 * self.a):
            raise ScaleDetectError("tasks.render does not match unit features times one amplitude "
                                   f"(shape={task.shape}); the exact theory needs additive "
                                   "features")
        self.n_out = len(perturb.shift_outcomes(task, probe[:1], pert.shift_rule)[1][0])
        explicit = net.activation.noise_model == PROPAGATED  # representations, not counts
        per = (self.n_out + 1) * task.size**self.d if explicit else \
            16 * self.n_out + 4 * net.sizes[1] ** self.d
        self.chunk = max(1, CHUNK_FLOATS // per)
        self.I1T = np.ascontiguousarray(self.ops.P[1].toarray().T)  # layer-1 incidence (N, n1)
        # layer-1 units containing each input coordinate (padded with 0, mask)
        lists = [np.flatnonzero(row) for row in self.I1T]
        r = max(len(x) for x in lists)
        self.units_of = np.zeros((task.size, r), np.int64)
        self.units_mask = np.zeros((task.size, r), bool)
        for i, x in enumerate(lists):
            self.units_of[i, :len(x)] = x
            self.units_mask[i, :len(x)] = True
        # 1D Gram matrices of the count profiles, layers 0..K and out: gram = fac * prod G1[.,.]
        C = self.ops.C
        rows = [C[k].toarray() for k in range(self.K + 1)]
        rows.append(rows[-1].sum(0, keepdims=True))
        self.grams = []
        for Ck in rows:
            G1 = Ck.T @ Ck
            fac = float(G1.sum()) if task.shape == "stripes" else 1.0
            self.grams.append((G1, fac))
        self.const = np.array([bool(np.all(Ck == Ck[:, :1])) for Ck in rows])

    def gram(self, i: int, P: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """<profile(P), profile(Q)> at layer i for integer feature positions P, Q ``(..., p)``."""
        G1, fac = self.grams[i]
        out = G1[P[..., 0], Q[..., 0]]
        for c in range(1, self.p):
            out = out * G1[P[..., c], Q[..., c]]
        return fac * out

    def hist_norm(self, i: int, h: np.ndarray) -> float:
        """``||sum_p h(p) profile(p)||^2`` for a feature histogram h ``(N,)*p``."""
        G1, fac = self.grams[i]
        if self.p == 1:
            return fac * float(h @ G1 @ h)
        return fac * float(np.sum(h * (G1 @ h @ G1.T)))

    def chunks(self):
        """Yield (slice, positions (B, 2, p), outcomes (B, m, 2, p), probs (B, m)).

        Outcomes are computed once and kept when they fit in ``CHUNK_FLOATS`` (two passes).
        """
        keep = self.M * self.n_out * 2 * self.p <= 4 * CHUNK_FLOATS
        if keep and not hasattr(self, "_outc"):
            o, q = perturb.shift_outcomes(self.task, self.pos.astype(np.float64),
                                            self.pert.shift_rule)
            self._outc, self._q = o.astype(np.int64), q
        for start in range(0, self.M, self.chunk):
            sl = slice(start, min(self.M, start + self.chunk))
            pos = self.pos[sl]
            if keep:
                yield sl, pos, self._outc[sl], self._q[sl]
            else:
                outc, probs = perturb.shift_outcomes(self.task, pos.astype(np.float64),
                                                       self.pert.shift_rule)
                yield sl, pos, outc.astype(np.int64), probs

    def count_at(self, pos: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Feature pixels in the layer-1 windows of units W ``(B, R, d)``: int ``(B, R)``."""
        I1 = self.I1T.T
        cnt = 0
        for f in range(2):
            if self.task.shape == "stripes":
                c = self.F * I1[W[..., 1], pos[:, f, 0][:, None]]
            else:
                c = I1[W[..., 0], pos[:, f, 0][:, None]]
                for ax in range(1, self.d):
                    c = c * I1[W[..., ax], pos[:, f, ax][:, None]]
            cnt = cnt + c
        return np.rint(cnt).astype(np.int64)

    def signal_units(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer-1 units whose window holds a feature pixel, each once per configuration.

        Returns ``U`` int ``(B, R, d)`` (padding: unit 0) and ``valid`` float ``(B, R)``.
        """
        B, d, n1 = len(pos), self.d, self.net.sizes[1]
        Ul, Um = self.units_of, self.units_mask
        parts, masks = [], []
        for f in range(2):
            if self.task.shape == "stripes":
                cols = Ul[pos[:, f, 0]]  # (B, r)
                rows = np.arange(n1)
                u = np.stack(np.broadcast_arrays(rows[None, :, None], cols[:, None, :]), -1)
                mk = np.broadcast_to(Um[pos[:, f, 0]][:, None, :], (B, n1, cols.shape[1]))
            elif d == 1:
                u = Ul[pos[:, f, 0]][..., None]
                mk = Um[pos[:, f, 0]]
            else:
                a, b = Ul[pos[:, f, 0]], Ul[pos[:, f, 1]]
                u = np.stack(np.broadcast_arrays(a[:, :, None], b[:, None, :]), -1)
                mk = Um[pos[:, f, 0]][:, :, None] & Um[pos[:, f, 1]][:, None, :]
            u = u.reshape(B, -1, d)
            mk = mk.reshape(B, -1).copy()
            if f == 1:  # units already listed for the first feature
                first = pos[:, :1]
                mk &= self.count_at(np.concatenate([first, first], 1), u) == 0
            parts.append(u)
            masks.append(mk)
        return np.concatenate(parts, 1), np.concatenate(masks, 1).astype(float)

    def layer1_counts(self, pos: np.ndarray) -> np.ndarray:
        """Feature pixels in every layer-1 window ``(B, n1^d)`` (integer-valued float64)."""
        I1T = self.I1T
        cnt = 0.0
        for f in range(2):
            if self.task.shape == "stripes":
                c = I1T.sum(0)[None, :, None] * I1T[pos[:, f, 0]][:, None, :]
            elif self.d == 1:
                c = I1T[pos[:, f, 0]]
            else:
                c = I1T[pos[:, f, 0]][:, :, None] * I1T[pos[:, f, 1]][:, None, :]
            cnt = cnt + c.reshape(len(pos), -1)
        return cnt

    def images(self, pos: np.ndarray) -> np.ndarray:
        """Unit-amplitude images ``(..., N^d)``."""
        return unit_images(self.task.shape, self.d, self.task.size, pos)


# --------------------------------------------------------------------------- data expectations
_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])


def diff_norms(st: Setup, i: int, pos: np.ndarray, outc: np.ndarray) -> np.ndarray:
    """``||f_i(tau x) - f_i(x)||^2`` in count units per outcome ``(B, m)``, integer-exact.

    The change is ``profile(o1) - profile(p1) + profile(o2) - profile(p2)``: 16 Gram lookups.
    """
    p1, p2 = pos[:, 0], pos[:, 1]
    shp = outc[:, :, 0].shape
    Y = np.stack([outc[:, :, 0], np.broadcast_to(p1[:, None], shp),
                  outc[:, :, 1], np.broadcast_to(p2[:, None], shp)], 2)
    dn = np.zeros(outc.shape[:2])
    for a in range(4):
        dn += st.gram(i, Y[:, :, a], Y[:, :, a])
        for b in range(a + 1, 4):
            dn += 2 * _SIGNS[a] * _SIGNS[b] * st.gram(i, Y[:, :, a], Y[:, :, b])
    return dn


def data_counts(st: Setup, i: int, pos, outc, w, q) -> tuple[float, float]:
    """``sum w ||f||^2`` and the diffeo numerator ``sum w sum_o q ||f(o) - f||^2`` at layer i
    (count units, Gram lookups).
    """
    p1, p2 = pos[:, 0], pos[:, 1]
    norm2 = st.gram(i, p1, p1) + st.gram(i, p2, p2) + 2 * st.gram(i, p1, p2)
    return float(w @ norm2), float(w @ np.sum(q * diff_norms(st, i, pos, outc), -1))


class DataStats:
    """Accumulates den_k and the diffeo numerators over chunks from explicit representations."""

    def __init__(self, n_layers: int):
        self.S1 = np.zeros(n_layers)
        self.V = [None] * n_layers
        self.first = [None] * n_layers
        self.const = np.ones(n_layers, bool)
        self.Dn = np.zeros(n_layers)

    def add(self, i: int, f: np.ndarray, fo: np.ndarray, w: np.ndarray, q: np.ndarray) -> None:
        self.S1[i] += np.sum(w * np.sum(f * f, -1))
        v = w @ f
        self.V[i] = v if self.V[i] is None else self.V[i] + v
        if self.first[i] is None:
            self.first[i] = f[0].copy()
        self.const[i] &= bool(np.all(f == self.first[i]))
        diff = fo - f[:, None, :]
        self.Dn[i] += np.sum(w * np.sum(q * np.sum(diff * diff, -1), -1))

    def den(self) -> np.ndarray:
        out = np.array([2.0 * (s - v @ v) for s, v in zip(self.S1, self.V, strict=True)])
        out[self.const] = 0.0
        return np.maximum(out, 0.0)


def count_scales(a: float, net: NetSpec) -> np.ndarray:
    """Squared scale turning count norms into representation norms, layers 0..K and out."""
    F, d, K = net.filter, net.dim, net.depth
    nK = net.sizes[K]
    s = [a**2 * float(F) ** (-2 * d * k) for k in range(K + 1)]
    s.append(a**2 * float(F) ** (-2 * d * K) * float(nK) ** (-2 * d))
    return np.array(s)


def r2_norms(st: Setup, pos, outc) -> np.ndarray:
    """``||u(tau x) - u(x)||^2`` of the unit-amplitude images per outcome ``(B, m)`` (integers)."""
    return diff_norms(st, 0, pos, outc)

