"""sr on the shared MODIS data (skipped when absent): NDVI placement, scenes, a few training steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

pytestmark = pytest.mark.shared_data


def test_modis_aster_ndvi_is_placed_by_its_offset(modis_aster_root):
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair
    from sr.data import modis_aster_fields

    pid = list_modis_aster_pairs(modis_aster_root)[0]
    pair = open_modis_aster_pair(pid, modis_aster_root)
    r, c = pair.meta["ndvi_offset_from_lst_grid_px"]
    (field,) = modis_aster_fields(ids=[pid], root=modis_aster_root)
    placed = field.ndvi_fine.values
    src = pair.ndvi_250m.values
    assert placed.shape == (256, 256) and field.lst.shape == (64, 64)
    np.testing.assert_array_equal(placed[r:, c:], src[: 256 - r, : 256 - c])
    assert np.isnan(placed[:r]).all() and np.isnan(placed[:, :c]).all()
    assert not hasattr(field, "aster") and field.lst_fine is None  # ASTER is never read


def test_modis_lst_2020_scenes_and_disr_ndvi(shared_data):
    from sr.data import make_scenes, modis_lst_2020_fields

    fields = modis_lst_2020_fields(root=shared_data / "modis_lst_2020", limit=3, with_ndvi=True)
    assert len(fields) == 3
    for f in fields:
        assert f.lst.shape == (64, 64) and f.ndvi_obs.shape == (64, 64)
        assert np.isfinite(f.lst.values).mean() >= 0.9
        nd = f.ndvi_obs.values
        assert np.nanmin(nd) >= -1 and np.nanmax(nd) <= 1 and np.isfinite(nd).mean() > 0.5
    s = make_scenes(fields, "disr", 4)[0]
    assert s.lr.shape == (16, 16) and s.ndvi.shape == (64, 64) and s.hr.shape == (64, 64)


@pytest.mark.e2e
@pytest.mark.parametrize("mode,source", [("sisr_invariant", "modis_lst_2020"), ("disr", "modis_aster")])
def test_train_a_few_steps_on_shared_modis(shared_data, tmp_path, monkeypatch, mode, source):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    monkeypatch.setenv("SCALELAWS_DATA", str(shared_data))
    opts = {"limit": 6} if source == "modis_lst_2020" else {"ids": [1, 102, 104]}
    cfg = {
        "mode": mode,
        "data": {"source": source, "factor": 4, "patch": 8, "batch_size": 4, "val_fraction": 0.34, "options": opts},
        "model": {"options": {"base": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "log_every_n_steps": 1},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    res = CliRunner().invoke(app, ["train", "--config", str(path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, (res.output, res.exception)
    metrics = (tmp_path / "run" / "logs" / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/consistency_mae_K" in metrics
    if mode == "sisr_invariant":
        assert "val/rmse_K" in metrics
