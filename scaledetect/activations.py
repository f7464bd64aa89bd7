"""Activations: one record per activation holding everything the package needs to know about phi.

Pairing each nonlinearity with its Gaussian integrals in one place is the neural-tangents way
(``stax.elementwise`` gives every layer its finite forward pass *and* its kernel map). A record
(``Activation``) holds

- ``name`` and ``code``: the ``--act`` value and the integer the numba kernels branch on
  (``scaledetect._kernels.conv``; codes are never renumbered: cached compiled kernels key on them);
- ``phi`` and ``dphi`` (numpy), ``torch`` (the ``torch.nn.functional`` function of the PyTorch
  twin, with ``torch_kwargs``) and ``stores_preactivation`` (whether the kernels' backward pass
  needs the pre-activation z, which they then keep next to the outputs);
- the noise model of the pooling-net theory (``noise_model``) and whether the theory is exact for
  it (``theory_exact``): the Gaussian moments ``moments`` and ``product``, and ``change`` for the
  layers the theory propagates;
- the infinite-width dual ``dual`` (``E[phi(u) phi(v)]`` of a centred bivariate Gaussian, the
  NNGP kernel map) and its cost ``dual_nodes``;
- its parameters (``params``, NetSpec fields of the same names, ``PARAMETERS``).

Adding an activation is adding a record to ``ACTIVATIONS`` (and its branch in the kernel source).

Notation: X ~ N(m, v); (X, Y) bivariate normal with means (m1, m2), variances (v1, v2) and
covariance c.
"""

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.special import erf, ndtr

from ._gaussian import arccos_kernel, expect, expect2, hermite, pdf, relu_moments, relu_product
from .errors import require, require_choice

__all__ = ["ACTIVATIONS", "LINEAR", "PARAMETERS", "PROPAGATED", "RECTIFIED", "Activation",
           "check_parameter", "get", "names"]

#: Noise models of the pooling-net theory (``Activation.noise_model``). ``LINEAR``: the noise
#: passes linearly, ``E||B eta||^2 = sigma^2 ||B||_F^2`` (exact). ``RECTIFIED``: layer-1 Gaussian
#: moments (``moments``, ``product``), every deeper layer linear, phi being the identity on the
#: clean values >= 0 (exact for ReLU, whose noisy layer-1 outputs are >= 0 too: SPEC section 6).
#: ``PROPAGATED``: layer 1 exact, deeper layers by Gaussian moment propagation
#: (``scaledetect.theory.moments``; an approximation).
LINEAR, RECTIFIED, PROPAGATED = "linear", "rectified", "propagated"

#: Parameters an activation may take, each a ``NetSpec`` field of the same name: its default.
PARAMETERS = {"negative_slope": 0.01}

#: Gauss-Hermite nodes of ``Activation.change`` (the deeper layers of the propagated theory).
CHANGE_NODES = 48


def check_parameter(name: str, value: float) -> None:
    """Raise ``ScaleDetectError`` unless *value* is valid for the activation parameter *name*.

    ``negative_slope`` (the slope a of x < 0): finite, ``0 <= a < 1`` (a = 0 is ReLU; a >= 1
    would no longer rectify).
    """
    require_choice("activation parameter", name, tuple(PARAMETERS))
    ok = isinstance(value, int | float | np.floating) and bool(np.isfinite(value)) \
        and 0.0 <= value < 1.0
    require(ok, name, "be a finite number with 0 <= negative_slope < 1", value)


@dataclass(frozen=True)
class Activation:
    """An activation phi and its Gaussian integrals (subclassed once per activation).

    Attributes
    ----------
    name : str
        The ``NetSpec.act`` / ``--act`` value.
    code : int
        The integer the numba kernels branch on (``scaledetect._kernels.conv``).
    noise_model : str
        ``LINEAR``, ``RECTIFIED`` or ``PROPAGATED`` (see the module constants).
    torch : str or None
        Name of the ``torch.nn.functional`` function computing phi (None: the identity).
    stores_preactivation : bool
        Whether the kernels' backward pass needs z (phi' is not a function of phi(z)); the model
        then keeps z after the outputs, in a buffer twice the size.
    dual_nodes : int
        Gauss-Hermite nodes per axis of the default ``dual`` (0: the record has a closed form);
        its cost is their square.
    theory_exact : bool
        Whether the pooling-net theory (``theory.predict``) is exact for this activation (else
        ``config["method"]`` of a prediction says what it approximates).
    """

    name: str
    code: int
    noise_model: str
    torch: str | None
    stores_preactivation: bool = False
    dual_nodes: int = 32
    theory_exact: bool = True

    # ------------------------------------------------------------------ the function
    def phi(self, x, out=None):
        """phi(x), elementwise (into *out* if given, which may be *x*)."""
        raise NotImplementedError

    def dphi(self, x):
        """phi'(x), elementwise (at a kink: the derivative from the left, as the kernels)."""
        raise NotImplementedError

    @property
    def params(self) -> tuple[str, ...]:
        """Names of the parameters this activation takes (``PARAMETERS`` keys)."""
        return tuple(f.name for f in fields(self) if f.name in PARAMETERS)

    @property
    def kernel_param(self) -> float:
        """The float the kernels get with the code (the negative slope; 0 if none)."""
        return 0.0

    def torch_kwargs(self) -> dict:
        """Keyword arguments of the ``torch`` function."""
        return {}

    # ------------------------------------------------------------------ the theory
    def moments(self, m, v):
        """``(E phi(X), E phi(X)^2)``, X ~ N(m, v) (default: 128-point Gauss-Hermite)."""
        return expect(self.phi, m, v), expect(lambda x: self.phi(x) ** 2, m, v)

    def product(self, m1, m2, v1, v2, c):
        """``E phi(X) phi(Y)``, bivariate normal (default: 64 x 64 Gauss-Hermite); v1 > 0."""
        return expect2(self.phi, self.phi, m1, m2, v1, v2, c)

    def dual(self, v1, v2, c):
        """``E phi(U) phi(V)``, (U, V) centred with variances v1, v2 and covariance c: the
        infinite-width kernel map (default: ``dual_nodes``-point Gauss-Hermite product rule).
        """
        return expect2(self.phi, self.phi, 0.0, 0.0, np.maximum(v1, 1e-300), v2, c,
                       n=self.dual_nodes)

    def derivatives(self, u, y) -> tuple:
        """``(phi'(u), phi''(u), phi'''(u), phi''''(u))`` at Gauss-Hermite nodes u, where
        ``y = phi(u)`` (for ``change`` of smooth activations).
        """
        raise NotImplementedError(f"{self.name} has no derivative formulas")

    def change(self, z, m, s, order: int):
        """One unit's output change under a Gaussian pre-activation change, by quadrature.

        Parameters
        ----------
        z : ndarray
            Clean pre-activations.
        m, s : ndarray (shape of z)
            Mean and standard deviation of the change D of the pre-activation, D ~ N(m, s^2).
        order : int
            Number of Mehler gains wanted.

        Returns
        -------
        phi_z, mean, second, gains
            ``phi(z)``, ``E d`` and ``E d^2`` of ``d = phi(z + D) - phi(z)``, and the list
            ``[E phi^(n)(z + D) for n = 1..order]``, each the shape of z (``CHANGE_NODES``-point
            Gauss-Hermite; activations with closed forms override this).
        """
        x, wq = hermite(CHANGE_NODES)
        u = z[..., None] + m[..., None] + s[..., None] * x
        t = self.phi(u)
        tz = self.phi(z)
        mean = np.sum(t * wq, -1) - tz
        second = np.sum((t - tz[..., None]) ** 2 * wq, -1)
        gains = [np.sum(dn * wq, -1) for dn in self.derivatives(u, t)[:order]] if order else []
        return tz, mean, second, gains


def _arccos_dual(v1, v2, c):
    """``E relu(U) relu(V)`` for centred U, V (variances v1, v2, covariance c; 0 if v1 v2 = 0)."""
    s = np.sqrt(v1 * v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0)
    return arccos_kernel(v1, v2, rho)


# ---------------------------------------------------------------------------- the activations
@dataclass(frozen=True)
class _ReLU(Activation):
    """``relu(x) = max(x, 0)``: rectified noise has a mean that piles up (SPEC section 6)."""

    name: str = "relu"
    code: int = 0
    noise_model: str = RECTIFIED
    torch: str | None = "relu"
    dual_nodes: int = 0

    def phi(self, x, out=None):
        return np.maximum(x, 0, out=out)  # NaN propagates

    def dphi(self, x):
        return (np.asarray(x) > 0).astype(float)

    def moments(self, m, v):
        return relu_moments(m, v)

    def product(self, m1, m2, v1, v2, c):
        return relu_product(m1, m2, v1, v2, c)

    def dual(self, v1, v2, c):
        """The arc-cosine kernel (Cho & Saul 2009)."""
        return _arccos_dual(v1, v2, c)


@dataclass(frozen=True)
class _Tanh(Activation):
    """``tanh``: odd, so Gaussian noise keeps a zero mean and does not pile up."""

    name: str = "tanh"
    code: int = 1
    noise_model: str = PROPAGATED
    torch: str | None = "tanh"
    dual_nodes: int = 32  # relative error ~4e-5 at variance 2, 1e-6 at 1, 4e-9 at 0.5
    theory_exact: bool = False

    def phi(self, x, out=None):
        return np.tanh(x, out=out)

    def dphi(self, x):
        return 1.0 - np.tanh(x) ** 2

    def moments(self, m, v):
        return expect(np.tanh, m, v), expect(lambda x: np.tanh(x) ** 2, m, v)

    def product(self, m1, m2, v1, v2, c):
        return expect2(np.tanh, np.tanh, m1, m2, v1, v2, c)

    def derivatives(self, u, y):
        """From ``y = tanh(u)``: ``sech^2 = 1 - y^2`` and its derivatives."""
        sech2 = 1 - y * y
        return (sech2, -2 * y * sech2, -2 * sech2 * (1 - 3 * y * y),
                8 * y * sech2 * (2 - 3 * y * y))


@dataclass(frozen=True)
class _Linear(Activation):
    """The identity: the net is linear and the noise passes linearly."""

    name: str = "linear"
    code: int = 2
    noise_model: str = LINEAR
    torch: str | None = None
    dual_nodes: int = 0

    def phi(self, x, out=None):
        if out is None:
            return np.array(x, copy=True)
        if out is not x:
            np.copyto(out, x)
        return out

    def dphi(self, x):
        return np.ones_like(np.asarray(x, dtype=float))

    def moments(self, m, v):
        m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
        return m + 0.0, m * m + v

    def product(self, m1, m2, v1, v2, c):
        return np.asarray(m1) * np.asarray(m2) + np.asarray(c)

    def dual(self, v1, v2, c):
        return c


@dataclass(frozen=True)
class _LeakyReLU(Activation):
    """``lrelu(x) = x`` for x > 0, ``a x`` else (``negative_slope`` a, 0 <= a < 1).

    ``lrelu = a x + (1 - a) relu(x)``: every Gaussian integral is a's linear part plus (1 - a)
    times ReLU's closed form, so the rectified mean, and the noise pile-up, scale with 1 - a.
    The theory treats it as ReLU (rectified noise model): layer 1 exact, deeper layers linear.
    Not exact: noisy layer-1 outputs can be negative (a g for g < 0), and a deeper unit whose
    inputs add up to a negative pre-activation scales it by a again; the error is O(a).
    """

    name: str = "leaky_relu"
    code: int = 3
    noise_model: str = RECTIFIED
    torch: str | None = "leaky_relu"
    dual_nodes: int = 0
    theory_exact: bool = False
    negative_slope: float = PARAMETERS["negative_slope"]

    def __post_init__(self):
        check_parameter("negative_slope", self.negative_slope)

    @property
    def kernel_param(self) -> float:
        return self.negative_slope

    def torch_kwargs(self) -> dict:
        return {"negative_slope": self.negative_slope}

    def phi(self, x, out=None):
        return np.maximum(x, self.negative_slope * x, out=out)  # 0 <= a < 1; NaN propagates

    def dphi(self, x):
        return np.where(np.asarray(x) > 0, 1.0, self.negative_slope)

    def moments(self, m, v):
        """``E = a m + (1 - a) E relu``, ``E lrelu^2 = a^2 (m^2 + v) + (1 - a^2) E relu^2``."""
        a = self.negative_slope
        m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
        r1, r2 = relu_moments(m, v)
        return a * m + (1 - a) * r1, a * a * (m * m + v) + (1 - a * a) * r2

    def product(self, m1, m2, v1, v2, c):
        """With ``E[X relu(Y)] = m1 E relu(Y) + c Phi(m2 / sqrt(v2))`` (Stein's lemma)."""
        a = self.negative_slope
        m1, m2, v1, v2, c = np.broadcast_arrays(*(np.asarray(t, float)
                                                  for t in (m1, m2, v1, v2, c)))
        r1, r2 = relu_moments(m1, v1)[0], relu_moments(m2, v2)[0]
        cross = m1 * r2 + c * ndtr(m2 / np.sqrt(v2)) + m2 * r1 + c * ndtr(m1 / np.sqrt(v1))
        return (a * a * (m1 * m2 + c) + a * (1 - a) * cross
                + (1 - a) ** 2 * relu_product(m1, m2, v1, v2, c))

    def dual(self, v1, v2, c):
        """``a c + (1 - a)^2 K_relu(v1, v2, c)`` (the cross terms ``E[u relu(v)] = c / 2``)."""
        a = self.negative_slope
        return a * c + (1 - a) ** 2 * _arccos_dual(v1, v2, c)


@dataclass(frozen=True)
class _GELU(Activation):
    """``gelu(x) = x Phi(x)``, exact (not the tanh approximation); smooth, and not piecewise
    linear, so the clean signal is not propagated linearly either.
    """

    name: str = "gelu"
    code: int = 4
    noise_model: str = PROPAGATED
    torch: str | None = "gelu"
    stores_preactivation: bool = True
    dual_nodes: int = 0
    theory_exact: bool = False

    def phi(self, x, out=None):
        """``x (1 + erf(x / sqrt 2)) / 2``, the kernels' and PyTorch's formula."""
        x = np.asarray(x)
        t = erf(x * 0.7071067811865476)
        t += 1.0
        t *= 0.5
        return np.multiply(x, t, out=out)

    def dphi(self, x):
        x = np.asarray(x, float)
        return ndtr(x) + x * pdf(x)

    def moments(self, m, v):
        """``E X Phi(X) = m Phi(h) + v phi(h) / r``, h = m / r, r = sqrt(1 + v) (Stein's lemma);
        the second moment by 128-point Gauss-Hermite.
        """
        m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
        r = np.sqrt(1.0 + v)
        return m * ndtr(m / r) + v * pdf(m / r) / r, expect(lambda x: self.phi(x) ** 2, m, v)

    def dual(self, v1, v2, c):
        """Closed form. With ``Phi(u) = P(Z <= u)``, Z ~ N(0, 1) independent:
        ``E gelu(U) gelu(V) = E[U V 1(A >= 0) 1(B >= 0)]``, ``A = U - Z1``, ``B = V - Z2``. U and
        V regressed on ``W = (A, B)`` (covariance ``S = [[v1 + 1, c], [c, v2 + 1]]``,
        coefficients ``b_U = S^-1 (v1, c)``, ``b_V = S^-1 (c, v2)``) give
        ``Cov(e_U, e_V) P + b_U . M b_V`` with the orthant moments of W (rho its correlation,
        ``r = sqrt(1 - rho^2)``): ``P = 1/4 + asin(rho) / 2 pi``, ``M_aa = S_aa (P + rho r / 2
        pi)``, ``M_ab = sqrt(S_aa S_bb) (rho P + r / 2 pi)``.
        """
        v1, v2, c = np.broadcast_arrays(*(np.asarray(t, float) for t in (v1, v2, c)))
        sa, sb = v1 + 1.0, v2 + 1.0
        det = sa * sb - c * c
        bu1, bu2 = (sb * v1 - c * c) / det, c / det
        bv1, bv2 = c / det, (sa * v2 - c * c) / det
        rho = c / np.sqrt(sa * sb)
        r = np.sqrt(1.0 - rho * rho)
        P = 0.25 + np.arcsin(rho) / (2 * np.pi)
        mdiag = P + rho * r / (2 * np.pi)
        mab = np.sqrt(sa * sb) * (rho * P + r / (2 * np.pi))
        quad = bu1 * (sa * mdiag * bv1 + mab * bv2) + bu2 * (mab * bv1 + sb * mdiag * bv2)
        return (c - bu1 * c - bu2 * v2) * P + quad

    def derivatives(self, u, y):
        p = pdf(u)
        u2 = u * u
        return (ndtr(u) + u * p, p * (2 - u2), p * u * (u2 - 4), p * (7 * u2 - u2 * u2 - 4))


#: Every activation, by name (their default parameters).
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (_ReLU(), _Tanh(), _Linear(),
                                                          _LeakyReLU(), _GELU())}


def names() -> tuple[str, ...]:
    """The activation names (``--act`` values), in registry order."""
    return tuple(ACTIVATIONS)


def get(name: str, **params) -> Activation:
    """The record of activation *name* with its parameters taken from *params*.

    Parameters
    ----------
    name : str
        One of ``names()``.
    **params
        Values of ``PARAMETERS`` (e.g. ``negative_slope``); each is checked
        (``check_parameter``) and set where the activation takes it, ignored otherwise (a
        ``NetSpec`` passes all of its activation fields).
    """
    require_choice("act", name, names())
    for key, value in params.items():
        check_parameter(key, value)
    act = ACTIVATIONS[name]
    own = {k: float(v) for k, v in params.items() if k in act.params}
    return replace(act, **own) if own else act
