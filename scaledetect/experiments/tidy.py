"""Flatten results into one tidy table (one row per run, state and layer) and write it as CSV."""

import csv
import io
import os

from ..io import atomic_path

COLUMNS = ("key", "kind", "state", "seed", "dim", "size", "shape", "rule", "xi", "depth", "filter",
           "stride", "width", "act", "diffeo", "temperature", "probe", "k", "D", "G", "R", "D_se",
           "G_se", "R_se")


def tidy_rows(results: dict[str, dict]) -> list[dict]:
    """One dict per (run, state in {init, trained}, layer k) with the columns ``COLUMNS``."""
    rows = []
    for key, res in sorted(results.items()):
        run = res["run"]
        task, net, pert = run["task"], run["net"], run["pert"]
        base = {"key": key, "kind": run["kind"], "seed": run["seed"], "probe": run["probe"],
                **{c: task[c] for c in ("dim", "size", "shape", "rule", "xi")},
                **{c: net[c] for c in ("depth", "filter", "stride", "width", "act")},
                "diffeo": pert["diffeo"], "temperature": pert["temperature"]}
        for state in ("init", "trained"):
            for layer in res.get(state, {}).get("layers", []):
                rows.append({**base, "state": state, **layer})
    return rows


def write_csv(path: str | os.PathLike, results: dict[str, dict]) -> None:
    """Write ``tidy_rows(results)`` to *path* atomically (missing values are empty cells)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(tidy_rows(results))
    with atomic_path(path, suffix=".csv") as tmp:
        tmp.write_text(buf.getvalue())
