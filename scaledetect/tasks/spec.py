"""``TaskSpec``: the full description of a scale-detection task."""

from dataclasses import asdict, dataclass

from ..errors import (
    plain_scalars,
    require,
    require_bool,
    require_choice,
    require_int,
    require_real,
)

SHAPES = ("points", "stripes", "blobs")
RULES = ("block", "distance")
NORMS = ("l2", "linf")
AMPLITUDES = ("rms", "mean")


@dataclass(frozen=True)
class TaskSpec:
    """A scale-detection task: two features in a ``dim``-dimensional image of side ``size``.

    Attributes
    ----------
    dim : int
        Spatial dimension, 1 or 2. Images have shape ``(n, 1, size)`` or ``(n, 1, size, size)``.
    size : int
        Side N of the image in pixels.
    shape : str
        Feature type: ``points`` (one pixel), ``stripes`` (dim 2: a full column), ``blobs``
        (Gaussian bump of width ``blob_width`` at a real-valued centre).
    rule : str
        ``block``: y = +1 iff both features lie in the same block of side ``xi`` (block index
        ``floor(position / xi)`` in every coordinate). ``distance``: y = +1 iff d < xi - gap/2,
        y = -1 iff d >= xi + gap/2, configurations in between are excluded.
    xi : float
        The scale, ``1 <= xi <= size`` (an integer for the block rule).
    gap : float
        Excluded band around ``xi`` for the distance rule.
    norm : str
        Distance in 2D: ``l2`` or ``linf``.
    periodic : bool
        Distance rule: measure distances on the torus.
    blob_width : float
        Standard deviation of the Gaussian bump, in pixels (blobs only).
    amplitude : str
        Feature amplitude convention (for non-overlapping features): ``rms`` (default) makes the
        mean over pixels of x^2 equal to 1 (points: ``a = sqrt(N^dim / 2)``); ``mean`` makes the
        mean over pixels of x equal to 1 (points: ``a = N^dim / 2``, i.e. ``1/m`` with
        ``m = 2 / N^dim``, the convention of Petrini et al.'s two-point task).

    Positions
    ---------
    A feature's position has ``p`` coordinates: ``p = dim`` for points and blobs, ``p = 1`` for
    stripes (the column, i.e. the last image axis). Coordinate ``c`` indexes image axis ``2 + c``
    (for stripes, the last axis). Positions of a batch have shape ``(n, 2, p)``; sampled and
    enumerated pairs are stored in canonical order (first feature lexicographically smaller).
    """

    dim: int = 1
    size: int = 128
    shape: str = "points"
    rule: str = "block"
    xi: float = 32
    gap: float = 0.0
    norm: str = "l2"
    periodic: bool = False
    blob_width: float = 1.0
    amplitude: str = "rms"

    def __post_init__(self):
        require_choice("dim", self.dim, (1, 2))
        require_choice("shape", self.shape, SHAPES)
        require_choice("rule", self.rule, RULES)
        require_choice("norm", self.norm, NORMS)
        require_choice("amplitude", self.amplitude, AMPLITUDES)
        require(self.shape != "stripes" or self.dim == 2, "dim", "be 2 for shape=stripes", self.dim)
        require_int("size", self.size, 2)
        require_real("xi", self.xi)
        require(1 <= self.xi <= self.size, "xi", "satisfy 1 <= xi <= size", self.xi,
                f"size={self.size}")
        require(self.rule != "block" or float(self.xi).is_integer(), "xi",
                "be an integer for rule=block", self.xi)
        require_real("gap", self.gap)
        require(self.gap >= 0, "gap", "be >= 0", self.gap)
        require_real("blob_width", self.blob_width)
        require(self.blob_width > 0, "blob_width", "be > 0", self.blob_width)
        require_bool("periodic", self.periodic)
        plain_scalars(self)

    @property
    def coords(self) -> int:
        """Number of coordinates ``p`` of one feature position."""
        return 1 if self.shape == "stripes" else self.dim

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(1, N)`` or ``(1, N, N)``."""
        return (1,) + (self.size,) * self.dim

    def to_dict(self) -> dict:
        """Plain-JSON description."""
        return asdict(self)

