"""``Sensitivities``: layer-wise D_k, G_k, R_k, from Monte Carlo or from theory."""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Sensitivities:
    """Relative sensitivities at every layer.

    Attributes
    ----------
    layers : tuple
        Layer labels ``(0, 1, ..., K, "out")``.
    D, G, R : ndarray, shape (K + 2,)
        Diffeo sensitivity, noise sensitivity and their ratio R = D / G.
    D_se, G_se, R_se : ndarray or None
        Standard errors (Monte Carlo); ``None`` for exact predictions.
    config : dict
        Everything needed to reproduce the numbers (task, net, perturbation, probe, seed, ...).
    names : tuple of str or None
        Per-layer names (e.g. the module paths ``features.3`` of a PyTorch net), if known.
    depths : tuple of float or None
        Per-layer relative depth in [0, 1] (input 0, output 1), if known.
    """

    layers: tuple
    D: np.ndarray
    G: np.ndarray
    R: np.ndarray
    D_se: np.ndarray | None = None
    G_se: np.ndarray | None = None
    R_se: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    names: tuple | None = None
    depths: tuple | None = None

    def to_dict(self) -> dict:
        """Return ``{"config": ..., "layers": [{"k": 0, "D", "G", "R"[, "D_se", ...]}, ...]}``.

        Layers also carry ``"name"`` and ``"depth"`` when ``names`` / ``depths`` are set.
        """
        rows = []
        for i, k in enumerate(self.layers):
            row = {"k": k}
            if self.names is not None:
                row["name"] = self.names[i]
            if self.depths is not None:
                row["depth"] = float(self.depths[i])
            for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
                arr = getattr(self, name)
                if arr is not None:
                    row[name] = _num(arr[i])
            rows.append(row)
        return {"config": self.config, "layers": rows}

    @classmethod
    def from_dict(cls, d: dict) -> "Sensitivities":
        """Inverse of ``to_dict``: ``from_dict(s.to_dict()).to_dict() == s.to_dict()``.

        ``None`` values (non-finite numbers in the JSON) become NaN; standard errors, names and
        depths are restored when every layer row carries them.
        """
        rows = d["layers"]

        def column(name):
            if not all(name in r for r in rows):
                return None
            return np.array([np.nan if r[name] is None else r[name] for r in rows], float)

        names = tuple(r["name"] for r in rows) if all("name" in r for r in rows) else None
        depths = tuple(float(r["depth"]) for r in rows) if all("depth" in r for r in rows) \
            else None
        return cls(layers=tuple(r["k"] for r in rows), D=column("D"), G=column("G"),
                   R=column("R"), D_se=column("D_se"), G_se=column("G_se"),
                   R_se=column("R_se"), config=dict(d.get("config", {})), names=names,
                   depths=depths)

    def profile(self, quantity: str, with_out: bool = False):
        """One quantity across the conv layers (and the output at ``x = K + 1``).

        Returns
        -------
        x : float ndarray (L,)
            Layer index k.
        y : float ndarray (L,)
            Values (NaN where undefined).
        se : float ndarray (L,) or None
            Standard errors (Monte Carlo), None for exact predictions.
        """
        keep = [i for i, k in enumerate(self.layers) if with_out or k != "out"]
        depth = max(k for k in self.layers if k != "out")
        x = np.array([depth + 1 if self.layers[i] == "out" else self.layers[i] for i in keep],
                     float)
        se = getattr(self, f"{quantity}_se")
        return (x, np.asarray(getattr(self, quantity), float)[keep],
                None if se is None else np.asarray(se, float)[keep])

    def depth_profile(self, quantity: str):
        """One quantity of named nodes against relative depth: ``(depths, values, names)``
        (depths NaN and names the layer labels where unknown).
        """
        n = len(self.layers)
        depths = np.full(n, np.nan) if self.depths is None else np.asarray(self.depths, float)
        names = [str(k) for k in self.layers] if self.names is None else list(self.names)
        return depths, np.asarray(getattr(self, quantity), float), names

    def output(self, quantity: str) -> float:
        """The network output's value of *quantity* (the ``"out"`` row; NaN if undefined)."""
        return float(np.asarray(getattr(self, quantity), float)[self.layers.index("out")])

    def table(self) -> str:
        """A readable fixed-width table, one row per layer."""
        mc = self.D_se is not None
        width = max([4] + [len(str(s)) for s in self.names or ()])
        named = self.names is not None
        head = (f"{'name':<{width}} {'depth':>5} " if named else "") + \
            f"{'k':>4} {'D':>11} {'G':>11} {'R':>11}"
        if mc:
            head += f" {'D_se':>10} {'G_se':>10} {'R_se':>10}"
        lines = [head]
        for i, k in enumerate(self.layers):
            line = f"{k!s:>4} {self.D[i]:11.4g} {self.G[i]:11.4g} {self.R[i]:11.4g}"
            if named:
                depth = "" if self.depths is None else f"{self.depths[i]:.3f}"
                line = f"{self.names[i]:<{width}} {depth:>5} " + line
            if mc:
                line += f" {self.D_se[i]:10.3g} {self.G_se[i]:10.3g} {self.R_se[i]:10.3g}"
            lines.append(line)
        return "\n".join(lines)


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def profile(sens: dict, quantity: str, with_out: bool = False):
    """One quantity of a ``Sensitivities.to_dict()`` across layers.

    Parameters
    ----------
    sens : dict
        ``{"config": ..., "layers": [{"k": 0, "D": ..., ...}, ..., {"k": "out", ...}]}``.
    quantity : str
        ``D``, ``G`` or ``R``.
    with_out : bool
        Include the network output, placed at ``x = K + 1``.

    Returns
    -------
    x : float ndarray (L,)
        Layer index k (the output at K + 1).
    y : float ndarray (L,)
        Values (``None`` in the JSON becomes NaN).
    se : float ndarray (L,) or None
        Standard errors if the result has them.
    """
    if isinstance(sens, Sensitivities):
        return sens.profile(quantity, with_out)
    rows = [r for r in sens["layers"] if with_out or r["k"] != "out"]
    depth = max(r["k"] for r in sens["layers"] if r["k"] != "out")
    x = np.array([depth + 1 if r["k"] == "out" else r["k"] for r in rows], dtype=float)
    y = np.array([np.nan if r.get(quantity) is None else r[quantity] for r in rows], dtype=float)
    se = None
    if all(f"{quantity}_se" in r for r in rows):
        se = np.array([np.nan if r[f"{quantity}_se"] is None else r[f"{quantity}_se"]
                       for r in rows], dtype=float)
    return x, y, se


def depth_profile(sens: dict, quantity: str):
    """One quantity of a ``Sensitivities.to_dict()`` of named nodes against relative depth.

    Returns
    -------
    depths : float ndarray (L,)
        Each row's ``depth`` in [0, 1] (NaN where absent).
    values : float ndarray (L,)
        Values (``None`` in the JSON becomes NaN).
    names : list of str
        Each row's ``name`` (its ``k`` where absent).
    """
    if isinstance(sens, Sensitivities):
        return sens.depth_profile(quantity)
    rows = sens["layers"]
    depth = np.array([r.get("depth", np.nan) for r in rows], float)
    vals = np.array([np.nan if r.get(quantity) is None else r[quantity] for r in rows], float)
    return depth, vals, [str(r.get("name", r["k"])) for r in rows]
