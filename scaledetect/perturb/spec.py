"""``Perturbation``: which diffeomorphism and which matched noise."""

from dataclasses import asdict, dataclass

from ..errors import plain_scalars, require, require_choice, require_real

DIFFEOS = ("shift", "maxent")
INTERPOLATIONS = ("linear", "gaussian", "nearest")
NOISE_MATCH = ("batch", "sample")
#: Undo rules of the ``shift`` diffeomorphism (see ``perturb.shift``).
SHIFT_RULES = ("auto", "label", "authors2d")


@dataclass(frozen=True)
class Perturbation:
    """A diffeomorphism and the Gaussian noise matched to its norm.

    Attributes
    ----------
    diffeo : str
        ``shift``: each feature moves by one pixel (blobs: by ``delta`` in a uniform direction),
        moves forbidden by ``shift_rule`` are undone.
        ``maxent``: the max-entropy smooth field of Petrini et al. (2021) with ``temperature`` T
        and ``cutoff``, applied by ``interp`` interpolation.
    delta : float
        Displacement length of a blob shift, in pixels.
    temperature : float or None
        T of the maxent field; ``None`` picks the geometric middle of ``temperature_range``.
    cutoff : float
        Modes with i^2 + j^2 < (cutoff + 1/2)^2 are kept.
    interp : str
        ``linear``, ``gaussian`` or ``nearest``.
    noise_match : str
        ``batch``: sigma^2 = mean ||tau x - x||^2 / N^dim over the probe set;
        ``sample``: each eta_i rescaled to ||eta_i|| = ||tau x_i - x_i||.
    shift_rule : str
        Which ``shift`` moves are undone: ``auto`` (block rule: a move out of the feature's own
        block; distance rule: a move that changes the label or enters the gap band), ``label``
        (any move that changes the label, both rules) or ``authors2d`` (2D points: a rounded
        random unit vector, diagonal moves possible, labels not preserved). Every rule undoes a
        move that leaves the image or lands on the other feature.
    """

    diffeo: str = "shift"
    delta: float = 1.0
    temperature: float | None = None
    cutoff: float = 3.0
    interp: str = "linear"
    noise_match: str = "batch"
    shift_rule: str = "auto"

    def __post_init__(self):
        require_choice("diffeo", self.diffeo, DIFFEOS)
        require_choice("interp", self.interp, INTERPOLATIONS)
        require_choice("noise_match", self.noise_match, NOISE_MATCH)
        require_choice("shift_rule", self.shift_rule, SHIFT_RULES)
        require_real("delta", self.delta)
        require(self.delta > 0, "delta", "be > 0", self.delta)
        require_real("cutoff", self.cutoff)
        require(self.cutoff >= 1, "cutoff", "be >= 1", self.cutoff)
        if self.temperature is not None:
            require_real("temperature", self.temperature, "or None")
            require(self.temperature > 0, "temperature", "be > 0", self.temperature)
        plain_scalars(self)

    def to_dict(self) -> dict:
        """Plain-JSON description."""
        return asdict(self)
