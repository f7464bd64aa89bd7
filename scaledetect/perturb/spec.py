"""``Perturbation``: which diffeomorphism and which matched noise."""

from dataclasses import asdict, dataclass

from ..errors import require, require_choice

DIFFEOS = ("shift", "maxent")
INTERPOLATIONS = ("linear", "gaussian", "nearest")
NOISE_MATCH = ("batch", "sample")


@dataclass(frozen=True)
class Perturbation:
    """A diffeomorphism and the Gaussian noise matched to its norm.

    Attributes
    ----------
    diffeo : str
        ``shift``: each feature moves by one pixel (blobs: by ``delta`` in a uniform direction),
        moves that would change the label, merge the features or leave the image are undone.
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
    """

    diffeo: str = "shift"
    delta: float = 1.0
    temperature: float | None = None
    cutoff: float = 3.0
    interp: str = "linear"
    noise_match: str = "batch"

    def __post_init__(self):
        require_choice("diffeo", self.diffeo, DIFFEOS)
        require_choice("interp", self.interp, INTERPOLATIONS)
        require_choice("noise_match", self.noise_match, NOISE_MATCH)
        require(self.delta > 0, "delta", "be > 0", self.delta)
        require(self.cutoff >= 1, "cutoff", "be >= 1", self.cutoff)
        require(self.temperature is None or self.temperature > 0, "temperature", "be > 0",
                self.temperature)

    def to_dict(self) -> dict:
        """Plain-JSON description."""
        return asdict(self)
