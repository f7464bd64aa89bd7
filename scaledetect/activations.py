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

from ._gaussian import arccos_kernel, expect, expect2, hermite, relu_moments, relu_product
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
        Gauss-Hermite nodes per axis of ``dual`` (0: a closed form); its cost is their square.
    theory_exact : bool
        Whether the pooling-net theory (``theory.predict``) is exact for this activation (else
        ``config["method"]`` of a prediction says what it approximates).
    """

    name: str
    code: int
    noise_model: str
    torch: str | None
    stores_preactivation: bool = False
    dual_nodes: int = 0
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


#: Every activation, by name (their default parameters).
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (_ReLU(), _Tanh(), _Linear())}


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
