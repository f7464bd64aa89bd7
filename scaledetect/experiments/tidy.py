"""Flatten results into one tidy table (one row per run, state and layer) and write it as CSV."""

import csv
import io
import os

from ..io import atomic_path

COLUMNS = ("key", "kind", "state", "seed", "dim", "size", "shape", "rule", "xi", "depth", "filter",
           "stride", "width", "act", "arch", "width_factor", "diffeo", "temperature", "probe", "k",
           "name", "rel_depth", "D", "G", "R", "D_se", "G_se", "R_se")


def tidy_rows(results: dict[str, dict]) -> list[dict]:
    """One dict per (run, state, layer k) with the columns ``COLUMNS``.

    States: ``init``, ``trained`` and, for ``deep`` runs (standard architectures, no NetSpec:
    ``arch`` and ``width_factor`` instead), ``shuffled``; their layers add ``name`` and the
    relative depth ``rel_depth``.
    """
    rows = []
    for key, res in sorted(results.items()):
        run = res["run"]
        task, net, pert = run["task"], run["net"] or {}, run["pert"]
        train = run.get("train", {}) if run["kind"] == "deep" else {}
        base = {"key": key, "kind": run["kind"], "seed": run["seed"], "probe": run["probe"],
                **{c: task[c] for c in ("dim", "size", "shape", "rule", "xi")},
                **{c: net.get(c) for c in ("depth", "filter", "stride", "width", "act")},
                "arch": train.get("arch"), "width_factor": train.get("width_factor"),
                "diffeo": pert["diffeo"], "temperature": pert["temperature"]}
        for state in ("init", "trained", "shuffled"):
            for layer in res.get(state, {}).get("layers", []):
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
