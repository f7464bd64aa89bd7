r"""Closed forms (sympy) of the leading behaviour of D_k, G_k with depth k for the pooling net.

Regime ("leading order"): many pixels per feature scale, the two features far apart and away
from the task's block boundaries (corrections of relative order ``s^k / xi`` and ``1 / N``),
signal units far above the noise (``a / F^dim >> sigma``, corrections ``Phi(-a / (F^dim sigma))``).
Everything is expressed through ``D0 = D_0`` (which fixes the batch-matched noise,
``sigma^2 = 2 D0`` with the SPEC amplitude convention: ``den_0 = 2 N^dim``).

Derivation (points; stripes replace the profile norm, ``d_f`` = feature dimension: 0 for points,
1 for stripes). A feature at layer k is a *profile* ``a A_k e_p``:

* strided ``F = s``: the profile is one unit of value ``a F^(-dim k)`` (times ``n_k`` rows for
  stripes), ``||prof||^2 = a^2 F^(-(2 dim - d_f) k)``, and ``den_k = 4 ||prof||^2`` (two features,
  independent pairs). A one-pixel move changes the profile only if it crosses a layer-k block
  boundary (probability ``F^-k``), and then ``||Delta||^2 = 2 ||prof||^2``: **D_k = D0 F^-k**.
  Noise: layer-1 units without signal output ``relu(g)``, ``g ~ N(0, v)``, ``v = sigma^2 / F^dim``
  (mean ``sqrt(v / 2 pi)``, variance ``v (1/2 - 1/(2 pi))``, independent: windows are disjoint);
  signal units pass the noise linearly. Deeper layers average ``F^(dim (k-1))`` of them: the
  coherent mean survives (``n_k^dim v / (2 pi)``), the fluctuations shrink
  (``n_k^dim v F^(-dim (k-1)) (1/2 - 1/(2 pi))``). Dividing by den_k::

      G_k = D0 F^((dim - d_f) k - dim) [1/(2 pi) + F^(-dim (k-1)) (1/2 - 1/(2 pi))],  k >= 1

  e.g. dim = 1, F = 2: ``G_k = D0 (1/2 - 1/(2 pi) + 2^(k-1)/(2 pi))`` (SPEC: 1/2 + (2^(k-2) -
  1/2)/pi at D0 = 1). Growth ``G ~ s^((dim - d_f) k)``: the rectified mean piles up.
* unstrided ``F = 2, s = 1``: the profile is binomial, ``A_k e_p = prod_c binom(k, .) / 2^k``,
  ``||prof||^2 = a^2 beta_k^(dim - d_f)`` (times N for stripes) with ``beta_k = C(2k, k) / 4^k
  ~ (pi k)^(-1/2)``; a shift gives ``||Delta||^2 / ||prof||^2 = 2 (1 - k/(k+1))``:
  **D_k = D0 / (k + 1)**. Overlapping layer-1 units (lag l per axis, overlap
  ``rho_l = prod_c (2 - |l_c|) / 2``) have covariance ``v (kappa(rho_l) - 1/(2 pi))`` with the
  arc-cosine kernel ``kappa(rho) = (sqrt(1 - rho^2) + rho (pi - arccos rho)) / (2 pi)``, and
  ``(A_k^T A_k)_{u, u+l} = prod_c gamma_{k-1}(l_c)``, ``gamma_j(l) = C(2j, j + l) / 4^j``::

      G_k = D0 2^-dim [1/(2 pi) + sum_l (kappa(rho_l) - 1/(2 pi)) prod_c gamma_{k-1}(l_c)]
            / beta_k^(dim - d_f)

  growing like ``k^((dim - d_f)/2)`` (coherent mean over a signal norm decaying like
  ``k^(-(dim - d_f)/2)``).
* linear: noise and signal are pooled by the same operator: ``G_k = D0 F^(-d_f k)`` (strided),
  ``G_k = D0 beta_k^(d_f)`` (unstrided); no pile-up.
* tanh (strided, points): odd, so zero-signal units have zero mean: nothing piles up. The signal
  of a feature is one unit per layer, ``t_0 = a = sqrt(N^dim / 2)``, ``t_k = tanh(t_{k-1} /
  F^dim)``; the noise of the ``n_k^dim`` zero-signal units has variance ``q_k``, with
  ``q_0 = sigma^2 = 2 D0`` and (pooled noise treated as Gaussian) ``q_k = E tanh(g)^2``,
  ``g ~ N(0, q_{k-1} / F^dim)``. Then::

      G_k = N^dim F^(-dim k) q_k / (4 t_k^2),   D_k = D0 F^-k

  Both ``t_k`` and ``q_k`` end up shrinking like ``F^(-dim k)`` (``t_k ~ c F^(-dim k)``,
  ``q_k ~ c_q F^(-dim k)``), so ``G_k -> N^dim c_q / (4 c^2)``: a constant set by the input
  amplitude through the saturation of the signal (SPEC section 6).
"""

from dataclasses import dataclass

import sympy as sp

from ..errors import require, require_choice

__all__ = ["ClosedForm", "closed_form", "closed_forms", "render"]

k, D0, F, N, v = sp.symbols("k D_0 F N v", positive=True)
dim = sp.Symbol("dim", positive=True, integer=True)


@dataclass(frozen=True)
class ClosedForm:
    """Leading-order D_k and G_k of one family of pooling nets.

    Attributes
    ----------
    name : str
    D, G : sympy.Expr
        Functions of the symbols ``k`` (layer, >= 1) and ``D_0`` (and ``N`` for tanh).
    D_asym, G_asym : sympy.Expr
        Leading asymptotic term as k -> infinity.
    exponents : str
        Scaling laws, e.g. ``D ~ s^-k, G ~ s^(dim k)``.
    regime : str
        Where the expressions are claimed (leading order).
    """

    name: str
    D: sp.Expr
    G: sp.Expr
    D_asym: sp.Expr
    G_asym: sp.Expr
    exponents: str
    regime: str

    def evaluate(self, layer: int, d0: float, size: int | None = None) -> tuple[float, float]:
        """Numerical (D_k, G_k) at ``k = layer`` for ``D_0 = d0`` (and ``N = size`` for tanh)."""
        subs = {k: layer, D0: d0}
        if size is not None:
            subs[N] = size
        return float(sp.N(self.D.subs(subs), 15)), float(sp.N(self.G.subs(subs), 15))


def _kappa(rho):
    return (sp.sqrt(1 - rho**2) + rho * (sp.pi - sp.acos(rho))) / (2 * sp.pi)


def _beta(j):
    return sp.binomial(2 * j, j) / 4**j


def closed_form(dim_: int, filter_: int, stride: int, act: str = "relu",
                shape: str = "points") -> ClosedForm:
    """The closed form for one architecture.

    Parameters
    ----------
    dim_ : int
        1 or 2.
    filter_, stride : int
        ``F = s`` (strided, any F >= 2) or ``F = 2, s = 1`` (unstrided).
    act : str
        relu, linear, or tanh (strided points only).
    shape : str
        points, or stripes (dim 2).

    Raises
    ------
    ScaleDetectError
        For architectures without a closed form here (e.g. overlapping ``1 < s < F``).
    """
    require_choice("dim", dim_, (1, 2))
    require_choice("act", act, ("relu", "linear", "tanh"))
    require_choice("shape", shape, ("points", "stripes"))
    require(shape == "points" or dim_ == 2, "dim", "be 2 for shape=stripes", dim_)
    strided = filter_ == stride and filter_ >= 2
    require(strided or (filter_ == 2 and stride == 1), "filter/stride",
            "be F = s >= 2 (strided) or F = 2, s = 1 (unstrided) for a closed form",
            (filter_, stride))
    df = 1 if shape == "stripes" else 0
    if strided:
        return _strided(dim_, df, filter_, act, shape)
    return _unstrided(dim_, df, act, shape)


def _strided(d: int, df: int, filter_: int, act: str, shape: str) -> ClosedForm:
    """``F = s = filter_``: D_k = D_0 F^-k; G_k from the layer-1 Gaussian moments."""
    e, pi, Fv = d - df, sp.pi, sp.Integer(filter_)
    regime = (f"points/stripes, N >> s^k, s^k <= xi/64, a/F^dim >> sigma; k >= 1 "
              f"(F = s = {filter_}, dim = {d})")
    Dk = D0 * Fv ** (-k)
    if act == "relu":
        Gk = D0 * Fv ** (e * k - d) * (1 / (2 * pi) + Fv ** (-d * (k - 1)) * (
            sp.Rational(1, 2) - 1 / (2 * pi)))
        Ga = D0 * Fv ** (e * k - d) / (2 * pi)
        exps = f"D ~ s^-k, G ~ s^({e} k)"
    elif act == "linear":
        Gk = D0 * Fv ** (-df * k)
        Ga = Gk
        exps = f"D ~ s^-k, G ~ s^(-{df} k)" if df else "D ~ s^-k, G ~ const"
    else:
        require(shape == "points", "shape", "be points for the tanh closed form", shape)
        t, q = sp.Function("t"), sp.Function("q")
        Gk = N**d * Fv ** (-d * k) * q(k) / (4 * t(k) ** 2)
        Ga = N**d * sp.Symbol("c_q", positive=True) / (4 * sp.Symbol("c", positive=True) ** 2)
        exps = "D ~ s^-k, G -> const (no pile-up)"
        regime += ("; t_0 = sqrt(N^dim/2), t_k = tanh(t_{k-1}/F^dim); q_0 = 2 D_0, "
                   "q_k = E tanh(g)^2 with g ~ N(0, q_{k-1}/F^dim); c = lim F^(dim k) t_k, "
                   "c_q = lim F^(dim k) q_k")
        return _TanhForm(f"strided F=s={filter_} dim={d} tanh points", Dk, Gk, Dk, Ga, exps,
                         regime, d, filter_)
    name = f"strided F=s={filter_} dim={d} {act} {shape}"
    return ClosedForm(name, Dk, Gk, D0 * Fv ** (-k), Ga, exps, regime)


def _unstrided(d: int, df: int, act: str, shape: str) -> ClosedForm:
    """``F = 2, s = 1``: binomial profiles, D_k = D_0 / (k + 1); G_k from the arc-cosine kernel
    of neighbouring units.
    """
    e, pi = d - df, sp.pi
    require(act != "tanh", "act", "be relu or linear for the unstrided closed form", act)
    regime = f"points/stripes, N >> k, xi >> k, a/2^dim >> sigma; k >= 1 (F = 2, s = 1, dim = {d})"
    Dk = D0 / (k + 1)
    bk = _beta(k)
    if act == "linear":
        Gk = D0 * bk**df
        Ga = D0 * (pi * k) ** (-sp.Rational(df, 2))
        exps = "D ~ k^-1, G ~ " + (f"k^(-{df}/2)" if df else "const")
    else:
        terms = 1 / (2 * pi)
        lags = [(a,) for a in (-1, 0, 1)] if d == 1 else [(a, b) for a in (-1, 0, 1)
                                                           for b in (-1, 0, 1)]
        for lag in lags:
            rho = sp.Integer(1)
            gam = sp.Integer(1)
            for lc in lag:
                rho *= sp.Rational(2 - abs(lc), 2)
                gam *= sp.binomial(2 * (k - 1), k - 1 + lc) / 4 ** (k - 1)
            terms += (_kappa(rho) - 1 / (2 * pi)) * gam
        Gk = D0 * sp.Integer(2) ** (-d) * terms / bk**e
        Ga = D0 * sp.Integer(2) ** (-d) * (pi * k) ** sp.Rational(e, 2) / (2 * pi)
        exps = f"D ~ k^-1, G ~ k^({e}/2)"
    name = f"unstrided F=2 s=1 dim={d} {act} {shape}"
    return ClosedForm(name, Dk, Gk, D0 / k, Ga, exps, regime)


@dataclass(frozen=True)
class _TanhForm(ClosedForm):
    dim_: int = 1
    filter_: int = 2

    def evaluate(self, layer: int, d0: float, size: int | None = None) -> tuple[float, float]:
        """Numerical (D_k, G_k); needs ``size`` (the amplitude sets the saturation)."""
        import numpy as np

        from .gaussian import expect
        require(size is not None, "size", "be given for the tanh closed form", size)
        d, Fv = self.dim_, self.filter_
        t, q = np.sqrt(size**d / 2.0), 2.0 * d0
        for _ in range(layer):
            t = np.tanh(t / Fv**d)
            q = float(expect(lambda x: np.tanh(x) ** 2, 0.0, q / Fv**d))
        G = size**d * Fv ** (-d * layer) * q / (4 * t * t)
        return d0 * Fv ** (-layer), float(G)


def closed_forms() -> list[ClosedForm]:
    """Every family: strided (F = s = 2, 3) and unstrided, dim 1 and 2, relu/linear/tanh."""
    out = []
    for d in (1, 2):
        for shape in (("points",) if d == 1 else ("points", "stripes")):
            for fs in ((2, 2), (3, 3), (2, 1)):
                for act in ("relu", "linear", "tanh"):
                    if act == "tanh" and (fs[1] == 1 or shape != "points"):
                        continue
                    out.append(closed_form(d, fs[0], fs[1], act, shape))
    return out


def render(forms: list[ClosedForm] | None = None, latex: bool = False) -> str:
    """Plain-text (or LaTeX) listing of the closed forms, their asymptotics and regimes."""
    forms = closed_forms() if forms is None else forms
    lines = []
    for f in forms:
        if latex:
            lines += [f"% {f.name}", f"D_k = {sp.latex(sp.simplify(f.D))}",
                      f"G_k = {sp.latex(f.G)}",
                      f"G_k \\sim {sp.latex(f.G_asym)}", f"% {f.exponents}; regime: {f.regime}",
                      ""]
        else:
            lines += [f"[{f.name}]", f"  D_k = {sp.sstr(sp.simplify(f.D))}",
                      f"  G_k = {sp.sstr(f.G)}", f"  G_k ~ {sp.sstr(f.G_asym)}  ({f.exponents})",
                      f"  regime: {f.regime}", ""]
    return "\n".join(lines)
