"""Flatten results into one tidy table (one row per run, state and layer) and write it as CSV."""

import csv
import io
import os

from ..io import atomic_path

COLUMNS = ("key", "kind", "state", "seed", "dim", "size", "shape", "rule", "xi", "depth", "filter",
           "stride", "width", "act", "arch", "width_factor", "diffeo", "temperature", "probe", "k",
           "name", "rel_depth", "D", "G", "R", "D_se", "G_se", "R_se")


def tidy_rows(results: dict) -> list[dict]:
    """One dict per (run, state, layer k) with the columns ``COLUMNS``.

    *results*: ``{key: RunResult}``. States: each record's ``states()`` (``init``, ``trained``
    and, for standard architectures, ``shuffled``); standard architectures have no NetSpec
    (``arch`` and ``width_factor`` instead) and their layers add ``name`` and ``rel_depth``.
    """
    rows = []
    for key, res in sorted(results.items()):
        run = res.run
        net = run.net.to_dict() if run.net is not None else {}
        base = {"key": key, "kind": run.kind, "seed": run.seed, "probe": run.probe,
                **{c: getattr(run.task, c) for c in ("dim", "size", "shape", "rule", "xi")},
                **{c: net.get(c) for c in ("depth", "filter", "stride", "width", "act")},
                "arch": getattr(run.train, "arch", None),
                "width_factor": getattr(run.train, "width_factor", None),
                "diffeo": run.pert.diffeo, "temperature": run.pert.temperature}
        for state, sens in res.record.states().items():
            for layer in sens.to_dict()["layers"]:
                row = {**base, "state": state, **layer, "depth": net.get("depth")}
                if "depth" in layer:
                    row["rel_depth"] = layer["depth"]
                rows.append(row)
    return rows


def write_csv(path: str | os.PathLike, results: dict[str, dict]) -> None:
    """Write ``tidy_rows(results)`` to *path* atomically (missing values are empty cells)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(tidy_rows(results))
    with atomic_path(path, suffix=".csv") as tmp:
        tmp.write_text(buf.getvalue())
