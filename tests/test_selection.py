"""Nested model selection (analysis.selection) and the output smoothing it chooses."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")


def test_smooth_output_keeps_missing_pixels_and_lowers_noise():
    from sr.predict import smooth_output

    rng = np.random.default_rng(0)
    truth = np.linspace(290, 300, 64)[None, :] * np.ones((64, 1))
    noisy = (truth + rng.normal(0, 1, truth.shape)).astype(np.float32)
    noisy[10:14, 20:30] = np.nan
    out = smooth_output(noisy, 1.0)
    assert np.isnan(out[10:14, 20:30]).all() and np.isfinite(out[~np.isnan(noisy)]).all()
    ok = np.isfinite(noisy)
    assert np.sqrt(np.mean((out[ok] - truth[ok]) ** 2)) < 0.5 * np.sqrt(np.mean((noisy[ok] - truth[ok]) ** 2))
    assert smooth_output(noisy, 0.0) is noisy


def test_output_sigma_from_the_model_metadata():
    from sr.predict import output_sigma

    class M:
        hparams = {"config": {}}

    assert output_sigma(M()) == 0.0
    m = M()
    m.postprocess = {"gaussian_sigma_px": 0.75}
    assert output_sigma(m) == 0.75


def test_spread_model_recovers_a_known_floor_and_scales():
    """Errors drawn with sd sqrt(a^2 + (c s)^2 + (d g)^2): the fit recovers a, c and d within
    5 % and the 1 / 2 sigma coverages are 68 / 95 % within 1 point (200,000 Gaussian pixels)."""
    from analysis.selection import fit_spread_model
    from sr.predict import spread_model

    rng = np.random.default_rng(3)
    s = rng.gamma(2.0, 0.05, 200_000)  # ensemble spreads of 0.02-0.3 K
    g = rng.gamma(2.0, 0.4, s.size)  # local gradients, K per pixel
    a, c, d = 1.2, 6.0, 0.8
    e = rng.standard_normal(s.size) * np.sqrt(a ** 2 + (c * s) ** 2 + (d * g) ** 2)
    e[:5] = np.nan
    floor, scale, gscale = fit_spread_model(e, s, g)
    assert abs(floor / a - 1) < 0.05 and abs(scale / c - 1) < 0.05 and abs(gscale / d - 1) < 0.05
    z = np.abs(e) / spread_model(s, floor, scale, g, gscale)
    assert abs(np.nanmean(z <= 1) - 0.6827) < 0.002  # matched exactly by construction
    assert abs(np.nanmean(z <= 2) - 0.9545) < 0.01
    # a spread-only calibration cannot cover where the members agree
    k = np.nanquantile(np.abs(e) / s, 0.6827)
    low = s < np.quantile(s, 0.2)
    assert np.nanmean(np.abs(e[low]) <= k * s[low]) < 0.55
    assert abs(np.nanmean(z[low] <= 1) - 0.6827) < 0.03
    # without the gradient: floor and scale only, and a gradient-free error gets grad_scale 0
    e0 = rng.standard_normal(s.size) * np.sqrt(a ** 2 + (c * s) ** 2)
    f0, s0, g0 = fit_spread_model(e0, s)
    assert g0 == 0.0 and abs(f0 / a - 1) < 0.05 and abs(s0 / c - 1) < 0.05
    assert fit_spread_model(e0, s, g)[2] < 0.05 * d
    # the spread model: floor only where the members agree, NaN kept, dtype kept
    out = spread_model(np.array([0.0, 1.0, np.nan], np.float32), 1.0, 2.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:2], [1.0, np.sqrt(5.0)], rtol=1e-6) and np.isnan(out[2])
    np.testing.assert_allclose(spread_model(np.array([1.0]), 1.0, 2.0, np.array([2.0]), 0.5),
                               [np.sqrt(6.0)])


def test_local_gradient_of_a_plane_and_missing_pixels():
    from sr.predict import local_gradient

    y, x = np.mgrid[0:8, 0:10].astype(float)
    np.testing.assert_allclose(local_gradient(3 * x + 4 * y), 5.0)
    f = 3 * x
    f[4, 5] = np.nan
    g = local_gradient(f)
    # NaN exactly where the field is; its neighbours keep a (one-sided) gradient
    assert np.array_equal(np.isnan(g), np.isnan(f)) and g[0, 0] == 3.0
    assert np.isfinite(g[4, 4]) and np.isfinite(g[4, 6]) and np.isfinite(g[3, 5])
    assert np.isnan(local_gradient(np.ones((1, 5)))).all()
    assert np.isnan(local_gradient(np.full((3, 3), np.nan))).all()


def test_predict_uncertainty_band_uses_the_floor_and_the_scale():
    from sr.predict import spread_model, std_floor, std_grad_scale, std_scale

    class M:
        postprocess = {"std_scale": 3.0, "std_floor": 1.5, "std_grad_scale": 0.5}

    assert (std_floor(M()), std_scale(M()), std_grad_scale(M())) == (1.5, 3.0, 0.5)
    M.postprocess = {}
    assert (std_floor(M()), std_scale(M()), std_grad_scale(M())) == (0.0, 1.0, 0.0)
    np.testing.assert_allclose(spread_model(np.array([0.5]), 0.0, 3.0), [1.5])


def test_budgets_and_candidates():
    from analysis.selection import BUDGETS, Candidate, SelectionSettings, default_candidates
    from scalelaws.errors import InputError

    assert {"quick", "default", "full"} <= set(BUDGETS)
    assert max(BUDGETS["quick"]["steps"]) < max(BUDGETS["default"]["steps"]) < max(BUDGETS["full"]["steps"])
    names = [c.mode for c in default_candidates()]
    assert "disr_invariant" in names and "disr_invariant_corrected" in names
    sel = SelectionSettings(budget="default")
    cand = default_candidates()[0]
    assert sel.step_grid(cand) == tuple(sorted(BUDGETS["default"]["steps"]))
    assert sel.experiment_settings(cand).steps == max(BUDGETS["default"]["steps"])
    assert sel.experiment_settings(cand, 200).steps == 200
    # a candidate's own training length overrides the grid; a grid given to the settings wins
    # over the budget's
    assert sel.step_grid(Candidate("a", "disr_invariant", {"steps": 50})) == (50,)
    assert SelectionSettings(steps=(300, 100)).step_grid(cand) == (100, 300)
    with pytest.raises(InputError):
        SelectionSettings(steps=(0, 100)).step_grid(cand)
    # named candidates: the PSF variant changes only the degradation of the 4 km inputs
    from analysis.selection import candidates_by_name

    psf = candidates_by_name(["disr_invariant_psf"])[0]
    st = sel.experiment_settings(psf)
    assert (psf.mode, st.forward, st.mtf_nyquist) == ("disr_invariant", "psf", 0.3)
    assert sel.experiment_settings(cand).forward == "mean"
    # guide dropout reaches the training configuration only when set (older runs stay reusable)
    from analysis.experiment import _sr_config
    from sr.train import SRConfig

    gd = sel.experiment_settings(candidates_by_name(["disr_invariant_psf_gdrop"])[0])
    kw = {"law": None, "train_ids": [1, 2], "root": None, "lst2020_root": None, "seed": 0}
    cfg = _sr_config("disr_invariant", "/tmp/x", gd, **kw)
    assert cfg["data"]["guide_dropout"] == 0.25
    assert SRConfig.from_dict(cfg).data.guide_dropout == 0.25
    assert "guide_dropout" not in _sr_config("disr_invariant", "/tmp/x", st, **kw)["data"]
    assert [c.name for c in candidates_by_name(["disr", "disr", "disr_invariant"])] == [
        "disr", "disr_invariant"]
    with pytest.raises(InputError, match="unknown candidate"):
        candidates_by_name(["disr_invariant", "nope"])


def test_choice_takes_lowest_rmse_then_shorter_training():
    from analysis.selection import _best, candidate_label, split_label

    assert split_label(candidate_label("disr_invariant", 200)) == ("disr_invariant", 200)
    assert split_label("disr_invariant") == ("disr_invariant", None)
    table = {"a@400": {"0": 1.70, "0.5": 1.62}, "a@200": {"0": 1.65, "0.5": 1.60},
             "b@100": {"0": 1.61, "0.5": 1.60}}
    assert _best(table) == {"candidate": "b", "steps": 100, "sigma": 0.5, "rmse": 1.60}
    table["a@200"]["0.5"] = 1.59
    assert _best(table)["candidate"] == "a" and _best(table)["steps"] == 200


@pytest.mark.e2e
@pytest.mark.shared_data
def test_snapshot_equals_a_shorter_run(modis_aster_root, tmp_path):
    """The snapshot at n steps of a longer run is the network trained for n steps (same weights
    to 1e-6): one run serves every training length of the search."""
    import torch

    from analysis.experiment import ExperimentSettings, _sr_config, _train_one
    from analysis.selection import Candidate, train_snapshots

    st = ExperimentSettings(unet={"base": 4, "depth": 1}, law_n_boot=0, batch_size=4)
    cand = Candidate("disr_invariant", "disr_invariant")
    snaps, _ = train_snapshots(cand, st, [1, 2], None, tmp_path / "snap", (2, 5), 0,
                               modis_aster_root)
    assert sorted(snaps) == [2, 5]
    import dataclasses

    cfg = _sr_config("disr_invariant", tmp_path / "fresh", dataclasses.replace(st, steps=2),
                     law=None, train_ids=[1, 2], root=modis_aster_root, lst2020_root=None, seed=0)
    fresh, _ = _train_one(cfg, retrain=True)

    def weights(path):
        sd = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        return {k: v for k, v in sd.items() if torch.is_floating_point(v)}

    a, b, c = weights(snaps[2]), weights(fresh), weights(snaps[5])
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)
    assert any(not torch.allclose(a[k], c[k]) for k in a)  # the longer snapshot moved on
    # a second call reuses every snapshot (no training)
    again, dt = train_snapshots(cand, st, [1, 2], None, tmp_path / "snap", (2, 5), 0,
                                modis_aster_root)
    assert again == snaps


@pytest.mark.e2e
@pytest.mark.shared_data
def test_nested_selection_never_uses_a_scored_pair(modis_aster_root, tmp_path):
    """Quick budget on 4 pairs: every weight, law, offset and choice of an outer fold comes
    from the other fold's pairs; the choices are written before the outer scores."""
    from analysis.experiment import ExperimentSettings
    from analysis.selection import Candidate, SelectionSettings, run_nested

    base = ExperimentSettings(unet={"base": 4, "depth": 1}, law_n_boot=0, batch_size=4)
    sel = SelectionSettings(budget="quick", sigmas=(0.0, 1.0), base=base, candidates=[
        Candidate("disr_invariant", "disr_invariant"),
        Candidate("disr_invariant_corrected", "disr_invariant_corrected")])
    rep = run_nested(tmp_path, [1, 2, 14, 18], sel=sel, root=modis_aster_root, final=False)
    frozen = json.loads((tmp_path / "selection.json").read_text())
    assert "outer_scores" not in frozen
    for o in rep["outer"]:
        scored = set(o["scored_ids"])
        assert not scored & set(o["selection"]["train_ids"])
        for fold in o["selection"]["inner_folds"]:
            assert not scored & set(fold)
        for ck in o["fitted"]["checkpoints"]:
            cfg = json.loads((__import__("pathlib").Path(ck).parent.parent / "done.json").read_text())["config"]
            assert not scored & set(cfg["data"]["options"]["ids"])
        if o["fitted"]["law"]:
            from scalelaws.laws import load_law

            src = str(load_law(o["fitted"]["law"]).ds.attrs["source"])
            assert all(f"pair {i} " not in src for i in scored)
    sc = rep["outer_scores"]
    assert sorted(int(k) for k in sc["per_pair"]) == [1, 2, 14, 18]
    assert np.isfinite(sc["rmse_mean"]) and 0.5 < sc["rmse_mean"] < 5


def test_despike_replaces_isolated_implausible_pixels_only():
    from scalelaws.synthetic import fbm
    from sr.predict import despike

    rng = np.random.default_rng(1)
    lst = (300 + 4 * fbm((64, 64), 0.7, rng=rng) / 1.0).astype(np.float32)
    lst[5:9, 40:44] += 12.0  # a hot 4 x 4 km town: real, kept
    lst[20, 20] = 402.0  # the kind of value found in the held-out MODIS pairs
    lst[30, 31] = np.nan
    out, spikes = despike(lst)
    assert spikes.sum() == 1 and spikes[20, 20]
    assert abs(out[20, 20] - np.nanmedian(lst[18:23, 18:23])) < 1e-3
    assert np.isnan(out[30, 31])
    keep = ~spikes & np.isfinite(lst)
    np.testing.assert_array_equal(out[keep], lst[keep])


@pytest.mark.slow
@pytest.mark.shared_data
def test_crossfit_smoothing_chooses_on_the_other_fold(modis_aster_root, monkeypatch):
    """Each fold's sigma comes from the other fold's table; a noisy method gets smoothed."""
    from analysis import selection as S
    from analysis.experiment import baseline_predictor

    ids = [1, 2, 14, 18]
    bic = baseline_predictor("bicubic")
    rng = np.random.default_rng(0)

    def noisy(pair):  # bicubic plus 2 K of white noise: smoothing must help
        p = bic(pair)
        return p.copy(data=(p.values + rng.normal(0, 2.0, p.shape)).astype(np.float32))

    seen: list[list[int]] = []
    real_table_offset = S.estimate_offset

    def spy(corr):
        seen.append(sorted(int(v) for v in corr["pair"].values))
        return real_table_offset(corr)

    monkeypatch.setattr(S, "estimate_offset", spy)
    res = S.crossfit_smoothing(noisy, ids, sigmas=(0.0, 1.0), root=modis_aster_root)
    folds = res["folds"]
    assert [f["scored_ids"] for f in folds] == [[1, 14], [2, 18]]
    for f in folds:  # chosen on the other fold: its offset came from the other fold's pairs only
        assert f["sigma"] == 1.0 and f["table"]["1"] < f["table"]["0"]
    assert seen[:2] == [[2, 18], [1, 14]] and seen[2] == ids
    assert res["sigma_all"] == 1.0 and set(res["per_pair"]) == {"1", "2", "14", "18"}


@pytest.mark.parametrize(("option", "value", "named"), [
    ("--steps", "many", "--steps"), ("--steps", "0,100", "--steps"), ("--steps", ",", "--steps"),
    ("--candidates", "nope", "candidate"), ("--candidates", "disr_invariant,nope", "candidate"),
    ("--candidates", ",", "candidate"),
])
def test_search_cli_refuses_bad_lists(tmp_path, option, value, named):
    """``scalelaws search`` with a bad ``--steps`` or ``--candidates`` list exits 2 with one
    line naming the problem, before any work."""
    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = CliRunner().invoke(app, ["search", "-o", str(tmp_path / "s"), option, value])
    assert res.exit_code == 2, res.output
    assert named in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------------------------
# the benchmark at a named budget: the frozen choices of a search retrained and scored
# ----------------------------------------------------------------------------------------------
def _choices(pairs=(1, 102), steps=(50, 150), sigmas=(0.75, 0.5)):
    from analysis.experiment import make_folds

    folds = make_folds(list(pairs), 2)
    return {"source": "test", "pairs": list(pairs),
            "candidates": [{"name": "disr_invariant_psf", "mode": "disr_invariant",
                            "settings": {"forward": "psf", "mtf_nyquist": 0.3}}],
            "outer": [{"fold": k, "scored_ids": f, "candidate": "disr_invariant_psf",
                       "steps": steps[k], "sigma": sigmas[k]} for k, f in enumerate(folds)],
            "final": {"candidate": "disr_invariant_psf", "steps": 150, "sigma": 0.75}}


def test_release_choices_are_the_benchmark_folds_and_known_candidates():
    """The shipped record of this release's search: its outer folds are the benchmark's split
    of its pairs, every choice names a candidate it defines, and the final choice is the
    shipped default's recipe."""
    from analysis.experiment import make_folds
    from analysis.selection import RELEASE_CHOICES, load_choices
    from sr.modelfile import read_model_file
    from sr.zoo import list_models

    rec = load_choices()
    assert RELEASE_CHOICES.is_file() and len(rec["pairs"]) == 40
    folds = make_folds(rec["pairs"], len(rec["outer"]))
    assert [sorted(o["scored_ids"]) for o in rec["outer"]] == folds
    names = {c["name"] for c in rec["candidates"]}
    assert all(o["candidate"] in names and o["steps"] > 0 for o in rec["outer"])
    default = next(m for m in list_models() if m["default"])
    card = read_model_file(default["file"])[0]["card"]
    assert card["settings"]["candidate"] == rec["final"]["candidate"]
    assert card["settings"]["steps"] == rec["final"]["steps"]


def test_load_choices_reads_a_search_report_and_refuses_bad_files(tmp_path):
    from analysis.selection import choices_record, load_choices
    from scalelaws.errors import InputError

    ch = _choices()
    report = {"pairs": ch["pairs"], "budget": "quick", "candidates": ch["candidates"],
              "outer": [{"fold": o["fold"], "scored_ids": o["scored_ids"],
                         "selection": {"choice": {"candidate": o["candidate"], "steps": o["steps"],
                                                  "sigma": o["sigma"], "rmse": 1.5}}}
                        for o in ch["outer"]], "final": None}
    p = tmp_path / "selection.json"
    p.write_text(json.dumps(report))
    rec = load_choices(p)
    assert rec == {**choices_record(report, f"search {tmp_path}")}
    assert [(o["steps"], o["sigma"]) for o in rec["outer"]] == [(50, 0.75), (150, 0.5)]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        load_choices(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text(json.dumps({"outer": [{"fold": 0}]}))
    with pytest.raises(InputError, match="empty.json"):
        load_choices(tmp_path / "empty.json")
    with pytest.raises(InputError, match="not found"):
        load_choices(tmp_path / "missing.json")


def test_run_budget_refuses_choices_made_on_other_folds(tmp_path):
    from analysis.selection import run_budget
    from scalelaws.errors import InputError

    ch = _choices((1, 2, 14, 18))
    ch["outer"][0]["scored_ids"], ch["outer"][1]["scored_ids"] = [1, 2], [14, 18]
    with pytest.raises(InputError, match="not the benchmark's folds"):
        run_budget(tmp_path / "b", "quick", choices=ch)
    with pytest.raises(InputError, match="unknown budget"):
        run_budget(tmp_path / "b", "huge", choices=_choices())


def test_crossfit_predictor_averages_members_and_smooths_per_pair(monkeypatch):
    """An ensemble per pair is the members' mean; each pair gets its own output smoothing."""
    import xarray as xr

    from analysis.pipeline import predictors as P

    rng = np.random.default_rng(0)
    fields = {c: rng.normal(300, 2, (32, 32)).astype(np.float32) for c in ("a", "b", "c")}

    def fake_model(ckpt, **kw):
        return lambda pair: xr.DataArray(fields[str(ckpt)].copy(), dims=("y", "x"))

    monkeypatch.setattr(P, "model_predictor", fake_model)

    class Pair:
        def __init__(self, i):
            self.id = i

    pred = P.crossfit_predictor({1: ["a", "b"], 2: "c"}, sigma={1: 0.0, 2: 1.0})
    np.testing.assert_allclose(pred(Pair(1)).values, (fields["a"] + fields["b"]) / 2, rtol=1e-6)
    smooth = pred(Pair(2)).values
    assert smooth.std() < 0.6 * fields["c"].std()  # smoothed by 1 pixel
    np.testing.assert_allclose(smooth.mean(), fields["c"].mean(), atol=0.05)
    from scalelaws.errors import InputError

    with pytest.raises(InputError, match="pair 3"):
        pred(Pair(3))


@pytest.mark.e2e
@pytest.mark.shared_data
def test_budget_benchmark_end_to_end(modis_aster_root, tmp_path):
    """``benchmark modis-aster --train --budget quick --choices F``: the frozen choices
    retrained per outer fold (no search), scored as ``nested_best`` beside the twins."""
    import xarray as xr
    from typer.testing import CliRunner

    from scalelaws.cli import app

    ch = tmp_path / "choices.json"
    ch.write_text(json.dumps(_choices()))
    out = tmp_path / "b"
    res = CliRunner().invoke(app, [
        "benchmark", "modis-aster", "--train", "--budget", "quick", "--choices", str(ch),
        "--data", str(modis_aster_root), "--methods", "bicubic,tsharp_smooth",
        "--sr-methods", "disr_invariant,disr_invariant_corrected", "--n-boot", "50",
        "--no-save-predictions", "-o", str(out)])
    assert res.exit_code == 0, res.output
    ds = xr.open_dataset(out / "modis_aster.nc")
    assert [str(m) for m in ds["method"].values] == [
        "bicubic", "tsharp_smooth", "disr_invariant", "disr_invariant_corrected", "nested_best"]
    assert np.isfinite(ds["rmse"].values).all()
    info = json.loads((out / "experiment.json").read_text())
    assert [o["sigma"] for o in info["choices"]["outer"]] == [0.75, 0.5]
    # the report's wall time counts the ensembles trained before the benchmark's steps
    assert info["wall_time_s"] >= sum(o["train_s"] for o in info["choices"]["outer"])
    for k, pid in enumerate((1, 102)):  # the ensemble scoring a pair never trained on it
        for run in (out / "chosen" / f"fold{k}" / "runs").iterdir():
            cfg = json.loads((run / "done.json").read_text())["config"]
            assert pid not in cfg["data"]["options"]["ids"]
            assert cfg["data"]["method"] == "psf"
    md = (out / "experiment.md").read_text()
    assert "| disr_invariant_corrected | disr_invariant |" in md and "`nested_best`" in md
    # --budget without --train, and --pairs with --budget, are refused before any work
    for extra in (["--budget", "quick"], ["--train", "--budget", "quick", "--pairs", "1,2"]):
        r = CliRunner().invoke(app, ["benchmark", "modis-aster", "-o", str(tmp_path / "x"), *extra])
        assert r.exit_code == 2 and not (tmp_path / "x" / "modis_aster.nc").exists()
