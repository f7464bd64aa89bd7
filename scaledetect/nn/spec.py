"""``NetSpec``: the architecture shared by the trainable CNN, the pooling net and the theory."""

from dataclasses import asdict, dataclass

from .. import activations
from ..errors import (
    plain_scalars,
    require,
    require_bool,
    require_choice,
    require_int,
    require_real,
)

#: The activation names (``scaledetect.activations`` holds their records).
ACTIVATIONS = activations.names()
PARAMETRIZATIONS = ("ntk", "mf")


@dataclass(frozen=True)
class NetSpec:
    """A stack of ``depth`` circular convolutions, global average pooling and a linear readout.

    Layer k = 1..K computes ``f_k = gain * phi(W_k * f_{k-1} + b_k)`` with filter side ``filter``
    (F) and stride ``stride`` (s): unit u of layer k sees inputs ``s*u ... s*u+F-1 (mod N_{k-1})``
    in every coordinate, and ``N_k = N_{k-1} / s``. ``f_0 = x``.

    Attributes
    ----------
    dim, size : int
        Input dimension (1 or 2) and side N_0.
    depth : int
        Number of conv layers K.
    filter, stride : int
        F and s, with ``1 <= s`` and s dividing every N_{k-1}; ``F <= N_{k-1}``.
    width : int
        Channels C of every conv layer (1 for the pooling net).
    act : str
        One of ``ACTIVATIONS`` (``relu``, ``tanh``, ``linear``, ...); ``activation`` is its record.
    bias : bool
        Whether conv layers have biases.
    param : str
        Readout: ``ntk`` -> ``f = alpha * (b + beta . g / sqrt(C))``; ``mf`` ->
        ``f = alpha * (b + beta . g / C)``, g the globally average-pooled last layer.
    alpha : float
        Output scale, the loss being ``(1/alpha) l(y f)``: large = lazy, small = feature learning.
    gain : float
        Multiplier applied after every activation (the published code uses sqrt(F)).
    negative_slope : float
        Slope a of phi for x < 0, used by the activations that take it (``activation.params``;
        0 <= a < 1, default 0.01 as in PyTorch); ``to_dict`` lists it only for those, so the
        description (and the cache key) of every other net does not carry it.
    """

    dim: int = 1
    size: int = 128
    depth: int = 7
    filter: int = 2
    stride: int = 2
    width: int = 64
    act: str = "relu"
    bias: bool = True
    param: str = "ntk"
    alpha: float = 1.0
    gain: float = 1.0
    negative_slope: float = activations.PARAMETERS["negative_slope"]

    def __post_init__(self):
        require_choice("dim", self.dim, (1, 2))
        self.activation  # noqa: B018 (checks act and its parameters)
        require_choice("param", self.param, PARAMETRIZATIONS)
        for name in ("size", "depth", "filter", "stride", "width"):
            require_int(name, getattr(self, name), 1)
        require_bool("bias", self.bias)
        require_real("alpha", self.alpha)
        require(self.alpha > 0, "alpha", "be > 0", self.alpha)
        require_real("gain", self.gain)
        require(self.gain > 0, "gain", "be > 0", self.gain)
        plain_scalars(self)
        n = self.size
        for k in range(1, self.depth + 1):
            require(n % self.stride == 0, "stride", "divide the side of every layer's input",
                    self.stride, f"layer {k} input side {n}, size={self.size}, depth={self.depth}")
            require(self.filter <= n, "filter", "be <= the side of every layer's input",
                    self.filter, f"layer {k} input side {n}")
            n //= self.stride

    @property
    def sizes(self) -> tuple[int, ...]:
        """Sides ``(N_0, N_1, ..., N_K)`` of the representations."""
        out = [self.size]
        for _ in range(self.depth):
            out.append(out[-1] // self.stride)
        return tuple(out)

    def windows(self, k: int, u: int) -> list[int]:
        """Input indices (one coordinate) seen by unit ``u`` of layer ``k``: s*u+j mod N_{k-1}."""
        n_in = self.sizes[k - 1]
        return [(self.stride * u + j) % n_in for j in range(self.filter)]

    @property
    def activation(self) -> activations.Activation:
        """The record of ``act`` with this net's parameters (``scaledetect.activations``)."""
        return activations.get(self.act, **{p: getattr(self, p) for p in activations.PARAMETERS})

    def to_dict(self) -> dict:
        """Plain-JSON description (activation parameters only where ``act`` takes them)."""
        d = asdict(self)
        used = self.activation.params
        for p in activations.PARAMETERS:
            if p not in used:
                del d[p]
        return d
