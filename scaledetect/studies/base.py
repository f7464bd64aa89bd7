"""What a study is: the runs behind one figure or claim group, how it draws them, what it claims.

A ``Study`` plans its runs for a preset (``plan(preset) -> Plan``: a frozen dataclass whose
fields are tuples of runs, named by their role), draws its figure from their results and writes
its report sections (``Section``: text, tables and ``Claim`` rows). The report and ``reproduce``
only iterate studies: they know no preset conventions.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import ScaleDetectError
from ..experiments.records import RunResult
from ..experiments.report import Claim, Section, Table

__all__ = ["Claim", "Plan", "Results", "Section", "Study", "Table"]


@dataclass(frozen=True)
class Plan:
    """Base of every study's plan: its fields are tuples of ``Run`` (or dicts of them)."""

    def runs(self) -> list:
        """Every run of the plan, each once, in field order."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            for r in (value.values() if isinstance(value, dict) else value):
                out.setdefault(r.key, r)
        return list(out.values())


class Results:
    """Finished runs, looked up by ``Run``: ``results[run]`` is its ``RunResult``."""

    def __init__(self, by_key: dict[str, RunResult]):
        self.by_key = dict(by_key)

    def __contains__(self, run) -> bool:
        """Whether *run* has finished."""
        return run.key in self.by_key

    def __getitem__(self, run) -> RunResult:
        """The result of *run*; a one-line error naming it if it has not finished."""
        try:
            return self.by_key[run.key]
        except KeyError:
            raise ScaleDetectError(f"results must contain run {run.key} ({run.kind}, seed "
                                   f"{run.seed}); got it missing: run it first") from None

    def __iter__(self) -> Iterator[RunResult]:
        """Every result."""
        return iter(self.by_key.values())

    def of(self, runs) -> list[RunResult]:
        """The results of *runs* that finished, in order."""
        return [self.by_key[r.key] for r in runs if r.key in self.by_key]

    def all(self, runs) -> list[RunResult]:
        """The results of *runs*, every one required."""
        return [self[r] for r in runs]


@dataclass(frozen=True)
class Study:
    """One figure or claim group.

    Attributes
    ----------
    id : str
        The figure's file stem (``fig5_relu_vs_tanh``) or the claim group's name.
    caption : str or None
        One sentence on what the figure shows (None: no figure).
    plan : callable
        ``plan(preset: Preset) -> Plan``.
    draw : callable or None
        ``draw(out_dir, plan, results) -> [png, pdf, json]``.
    report : callable or None
        ``report(plan, results) -> list[Section]`` (only finished runs are in *results*).
    extras : tuple of str
        Optional extras (``scaledetect.extras``) whose runs the study includes when they are
        installed; without them it plans and draws the rest.
    """

    id: str
    caption: str | None
    plan: Callable
    draw: Callable | None = None
    report: Callable | None = None
    extras: tuple = ()

    @property
    def figure(self) -> bool:
        """Whether the study draws a figure."""
        return self.draw is not None

    def path(self, out_dir) -> Path:
        """Where its PNG goes."""
        return Path(out_dir) / f"{self.id}.png"
