"""Figures: every ``analysis/fig_*.py`` main runs on the tiny preset and writes PNG, PDF and JSON.

The scripts share one results cache (module fixture), so the trained nets used by F2, F3, F5
and F11 are trained once. Checks: the three files exist and are what they claim (PNG/PDF magic
bytes, parseable JSON); every plotted series holds only finite numbers; the figure index covers
exactly the preset's figures plus the two that need no runs; and a few numbers in the saved
data are checked against independent computations.
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from tolerances import family_nsigma

from scaledetect import ScaleDetectError
from scaledetect.experiments import Cache
from scaledetect.extras import available
from scaledetect.nn.filters import uniform_share
from scaledetect.plots import style
from scaledetect.studies import FIGURES, STUDIES, Results, plans

ROOT = Path(__file__).resolve().parents[1]
TORCH_ONLY = ("fig9_architectures", "fig10_layers")  # figures of standard CNNs alone
SCRIPTS = sorted((ROOT / "analysis").glob("fig*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"analysis_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Run every script's main on the tiny preset into one folder with one shared cache."""
    out = tmp_path_factory.mktemp("figures")
    cache = out / ".cache"
    written = {}
    for path in SCRIPTS:
        module = _load(path)
        written[module.FIG_ID] = module.main(out_dir=out, preset="tiny", cache_dir=cache,
                                             progress=False)
    return out, cache, written


def _series(obj, found=None):
    """Every dict with plotted ``x`` and ``y`` lists, anywhere in the saved JSON."""
    found = [] if found is None else found
    if isinstance(obj, dict):
        if "x" in obj and "y" in obj:
            found.append(obj)
        for v in obj.values():
            _series(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _series(v, found)
    return found


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    else:
        yield obj


def test_one_script_per_figure_and_every_study_plans_each_preset():
    assert [p.stem for p in SCRIPTS] == sorted(FIGURES)
    for name in ("tiny", "quick", "paper"):
        assert set(plans(name)) == set(STUDIES)
    for fid in FIGURES:
        caption = STUDIES[fid].caption
        assert caption.endswith(".") and len(caption) > 40  # one readable sentence
    # only the gallery and the pile-up are computed directly, without runs; without PyTorch
    # the presets hold no standard-CNN runs, so F9 and F10 have none at all
    no_runs = {"fig1_gallery", "fig7_pileup"} | (
        set() if available("torch") else {"fig9_architectures", "fig10_layers"})
    assert {fid for fid in FIGURES if not plans("tiny")[fid].runs()} == no_runs


def test_every_figure_writes_png_pdf_json(drawn):
    out, _, written = drawn
    assert set(written) == set(FIGURES)
    for fid, paths in written.items():
        assert [p.name for p in paths] == [f"{fid}.png", f"{fid}.pdf", f"{fid}.json"]
        png, pdf, js = (Path(p) for p in paths)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fid
        assert pdf.read_bytes()[:5] == b"%PDF-", fid
        data = json.loads(js.read_text())
        assert data["caption"] == STUDIES[fid].caption
        if fid == "fig1_gallery":  # images, not curves: 4 finite images per task shown
            for row in data["rows"]:
                assert set(row["images"]) == {"clean", "shift", "maxent", "noise"}
                pixels = [v for img in row["images"].values() for v in _numbers(img)]
                assert len(pixels) == 4 * row["task"]["size"] ** row["task"]["dim"]
                assert all(isinstance(v, float) and math.isfinite(v) for v in pixels)
            continue
        if fid in TORCH_ONLY and not available("torch"):  # drawn empty, saying so
            assert not data["architectures"], fid
            continue
        series = _series(data)
        assert series, f"{fid}: no plotted series saved"
        for s in series:
            values = list(_numbers(s["x"])) + list(_numbers(s["y"])) + list(
                _numbers(s.get("se", [])))
            assert values, fid
            # None would mean a NaN/inf was plotted (the writer turns non-finite into null)
            assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in values), \
                (fid, s.get("label"))
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".cache"]
    assert leftovers == []  # atomic writes leave no temporary files behind


def test_strided_figure_has_theory_mc_and_trained_in_both_dims(drawn):
    out, _, _ = drawn
    data = json.loads((out / "fig3_strided.json").read_text())
    assert set(data["columns"]) == {"dim1", "dim2"}
    panel = data["columns"]["dim1"]["panels"]["D"]
    kinds = {name.split()[0] for name in panel}
    assert {"theory", "pooling", "trained", "guide"} <= kinds
    # tiny 1D pooling net: N = 64, xi = 32, K = 6. Layers 0..4 are drawn; at k = 5 the window
    # 2^5 = 32 = xi covers a whole block, a label-preserving shift cannot change f_5, so D_5 = 0
    # exactly (not drawable on a log axis); at k = 6 a single unit equals the image mean, the
    # same for every input, so den_6 = 0 and D_6 is undefined. The output is not on this axis.
    theory = next(v for k, v in panel.items() if k.startswith("theory"))
    assert theory["x"] == [0, 1, 2, 3, 4]
    assert theory["omitted"] == {"x": [5, 6], "value": [0.0, "undefined"]}


def test_theory_and_monte_carlo_agree_in_saved_data(drawn):
    """The pooling-net MC points lie within ``family_nsigma(m)`` s.e. of the exact line (tiny
    probes: P = 2000): the m = 2 x (K + 1) x 3 points of the figure are one family of checks
    (tests/tolerances.py; about 3.6 s.e. each)."""
    out, _, _ = drawn
    data = json.loads((out / "fig3_strided.json").read_text())
    pairs = []
    for col in data["columns"].values():
        for q, panel in col["panels"].items():
            th = next(v for k, v in panel.items() if k.startswith("theory"))
            mc = next(v for k, v in panel.items() if k.startswith("pooling"))
            z = np.abs(np.array(mc["y"]) - np.array(th["y"])) / np.array(mc["se"])
            pairs.append((q, z))
    limit = family_nsigma(sum(len(z) for _, z in pairs))
    for q, z in pairs:
        assert z.max() < limit, (q, z, limit)


def test_pileup_mean_matches_closed_form(drawn):
    """F7: the ReLU pooling net's mean at k >= 1 is sqrt(v / 2 pi), v = sigma^2 / F = 1/2."""
    out, _, _ = drawn
    data = json.loads((out / "fig7_pileup.json").read_text())
    relu, tanh = data["relu"], data["tanh"]
    expected = math.sqrt(0.5 / (2 * math.pi))
    # one family of checks, every layer of both nets (tests/tolerances.py)
    z = family_nsigma(len(relu["mean"]) - 1 + len(tanh["mean"]))
    for m, se in zip(relu["mean"][1:], relu["mean_se"][1:], strict=True):
        assert abs(m - expected) < z * se
    for m, se in zip(tanh["mean"], tanh["mean_se"], strict=True):
        assert abs(m) < z * se  # odd activation: zero mean
    # fluctuations halve in variance per layer (s = F = 2): ratio of std 1/sqrt(2) +- 10%
    ratios = np.array(relu["std"][2:]) / np.array(relu["std"][1:-1])
    assert np.allclose(ratios[:5], 1 / math.sqrt(2), rtol=0.1)


def test_runner_stores_each_layers_uniform_share(drawn):
    """The cached per-layer share is ``nn.filters.uniform_share`` of the stored layer-1 filters,
    and the constant-mode fraction of the spectra is the same quantity (psi_0 = F^(-dim/2)).
    """
    _, cache_dir, _ = drawn
    run = plans("tiny")["fig11_spectra"].f2[0]
    record = Cache(cache_dir).get(run.key).record
    for stats in (record.filters_init, record.filters_trained):
        assert stats.uniform_share[0] == pytest.approx(uniform_share(stats.conv1), rel=1e-12)
        assert len(stats.uniform_share) == run.net.depth
        np.testing.assert_allclose(stats.constant_fraction(), stats.uniform_share, rtol=1e-12)


def test_uniform_share_of_known_filters():
    w = np.array([[[1.0, 1.0]], [[1.0, -1.0]], [[3.0, 1.0]]])  # pooling, difference, mixed
    # per filter: F mean^2 / sum w^2 = 2*1/2, 0, 2*4/10
    assert uniform_share(w, per_filter=True).ravel() == pytest.approx([1.0, 0.0, 0.8])
    # layer, norm-weighted: (2 + 0 + 8) / (2 + 2 + 10)
    assert uniform_share(w) == pytest.approx(10 / 14)
    # random Gaussian filters: E[F mean^2] / E[sum w^2] = 1 / F; the numerator is (1/F) chi^2
    # with 20000 degrees of freedom (relative s.d. sqrt(2/20000)), the denominator 3x tighter
    g = np.random.default_rng(0).normal(size=(400, 50, 3))
    assert uniform_share(g) == pytest.approx(1 / 3, abs=3 * (1 / 3) * np.sqrt(2 / (400 * 50)))
    with pytest.raises(ScaleDetectError, match="w.ndim"):
        uniform_share(np.ones(3))


def test_missing_runs_are_named(tmp_path):
    for fid in ("fig2_init_vs_trained", "fig11_spectra"):
        study = STUDIES[fid]
        with pytest.raises(ScaleDetectError, match="results must contain run"):
            study.draw(tmp_path, plans("tiny")[fid], Results({}))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_jsonable_turns_non_finite_into_null():
    assert style.jsonable({"a": np.array([1.0, np.nan]), "b": np.int64(3), "c": (np.inf,)}) == \
        {"a": [1.0, None], "b": 3, "c": [None]}
    with pytest.raises(TypeError):
        style.jsonable({"a": object()})


def test_scaling_figure_exponents_theory_vs_monte_carlo(drawn):
    """F13: at each size the Monte Carlo exponent lies within two 95% half-widths of the
    exact theory's (about 4 s.e.: the fitted layers are correlated), and the
    data collapse of the theory is drawn for every size."""
    out, _, _ = drawn
    data = json.loads((out / "fig13_scaling.json").read_text())
    checked = 0
    for panel in data["exponents"].values():
        th, mc = panel.get("dim1 theory"), panel.get("dim1 mc")
        if th is None or mc is None:
            continue
        for n, e, ci in zip(mc["x"], mc["y"], mc["se"], strict=True):
            assert abs(e - th["y"][th["x"].index(n)]) < 2 * ci, (n, e, ci)
            checked += 1
    assert checked == 8  # tiny: 2 sizes x (strided, unstrided) x (D, G)
    sizes = {k.split("N=")[1] for k in data["collapse"]["dim1 strided D"]}
    assert sizes == {"64", "128"}


def test_xi_figure_theory_collapses_at_the_block_layer(drawn):
    """F15: the pooling net's D_k is exactly 0 from k* = log2(xi) on, so its collapse layer is
    log2(xi) itself (tiny: xi = 4, 8 -> 2, 3); F14's distances are finite and >= 0."""
    out, _, _ = drawn
    data = json.loads((out / "fig15_xi.json").read_text())
    assert data["collapse"]["theory"]["x"] == [2.0, 3.0]
    assert data["collapse"]["theory"]["y"] == [2.0, 3.0]
    width = json.loads((out / "fig14_width.json").read_text())
    assert width["distance"]["D"]["x"] == [8.0, 16.0]
    assert all(v >= 0 for q in "DG" for v in width["distance"][q]["y"])
