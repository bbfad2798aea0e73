"""The training-mode table and the guided scale-invariant modes (disr_invariant[_corrected])."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from sr import MODE_SPECS, MODES, mode_spec  # noqa: E402
from sr.data import (  # noqa: E402
    CORRECTED_MODES,
    DISR_MODES,
    SISR_MODES,
    Field,
    Normalisation,
    PatchDataset,
    attach_targets,
    make_scenes,
    patch_index,
    synthetic_fields,
)


def test_every_corrected_mode_has_its_invariant_counterpart():
    for name, spec in MODE_SPECS.items():
        if spec.corrected:
            twins = [m for m in MODE_SPECS.values()
                     if not m.corrected and m.guided == spec.guided and m.supervised == spec.supervised]
            assert len(twins) == 1, name
    assert set(SISR_MODES) == {"sisr_invariant", "sisr_corrected"}
    assert set(DISR_MODES) == {"disr", "disr_corrected"}
    assert set(CORRECTED_MODES) == {m for m in MODES if m.endswith("corrected")}
    assert mode_spec("disr_invariant_corrected").target_band
    assert not mode_spec("disr_corrected").target_band
    with pytest.raises(ValueError, match="unknown mode"):
        mode_spec("nope")


def _guided_fields():
    return synthetic_fields(kinds=["mixed"], n_per_kind=2, shape=(128, 128), factor=4, seed=3)


def test_disr_invariant_scenes_learn_the_observed_field_from_its_degradation():
    from scalelaws.grids import degrade

    fields = _guided_fields()
    assert all(f.ndvi_fine is not None for f in fields)
    scenes = make_scenes(fields, "disr_invariant", 4)
    for f, s in zip(fields, scenes, strict=True):
        assert s.hr_is_target and s.hr.shape == f.lst.shape
        np.testing.assert_allclose(s.lr, degrade(f.lst, 4, method="mean").values, rtol=1e-6)
        # the guide on the observed grid is the block mean of the fine NDVI; the fine NDVI is
        # kept for the target-band branch
        np.testing.assert_allclose(s.ndvi, degrade(f.ndvi_fine, 4, method="mean").values, rtol=1e-5)
        assert s.ndvi.shape == s.hr.shape and s.ndvi_band.shape == (s.hr.shape[0] * 4, s.hr.shape[1] * 4)


def test_disr_invariant_with_a_coarse_ndvi_only():
    f = _guided_fields()[0]
    from scalelaws.grids import degrade

    coarse = Field(name="c", lst=f.lst, ndvi_obs=degrade(f.ndvi_fine, 4, method="mean"))
    (s,) = make_scenes([coarse], "disr_invariant", 4)
    assert s.ndvi_band is None and s.ndvi.shape == s.hr.shape


def test_target_band_items_of_the_corrected_guided_mode(tmp_path):
    from sr.lawtargets import LawTargets
    from sr.train import _fit_law

    law = _fit_law({"kinds": ["mixed"], "n_per_kind": 1, "shape": [128, 128], "n_boot": 0, "q": [1, 2]})
    targets = LawTargets(law, q=[1, 2], lags=[1, 2], coarse_lags=[1, 2], use_law_conditioning=True)
    scenes = make_scenes(_guided_fields(), "disr_invariant_corrected", 4)
    attach_targets(scenes, "disr_invariant_corrected", targets, conditioned=True)
    s = scenes[0]
    assert s.sf_target_fine is not None and s.tex_fine is not None and s.cond_fine is not None
    # the fine branch is conditioned on the target band (4 times finer than the training band)
    assert not np.allclose(s.cond, s.cond_fine)
    ds = PatchDataset(scenes, patch_index(scenes, 8, 4), 8, Normalisation.fit(scenes), seed=0)
    item = ds[0]
    assert item["fine_in"].shape == (1, 8, 8)
    assert item["ndvi_fine_in"].shape == (1, 32, 32)
    assert item["tex_fine"].shape == (2,)


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["disr_invariant", "disr_invariant_corrected"])
def test_guided_invariant_modes_train_and_predict(tmp_path, mode):
    from sr.predict import load_sr_model, predict_array
    from sr.train import SRConfig, train

    cfg = {"mode": mode, "out_dir": str(tmp_path / mode),
           "data": {"source": "synthetic", "patch": 8, "stride": 8, "batch_size": 4,
                    "options": {"kinds": ["mixed"], "n_per_kind": 2, "shape": [128, 128]}},
           "model": {"options": {"base": 4, "depth": 1}},
           "trainer": {"max_steps": 3, "max_epochs": 50, "accelerator": "cpu", "devices": 1}}
    if mode.endswith("corrected"):
        cfg["law"] = {"fit": {"kinds": ["mixed"], "n_per_kind": 1, "shape": [128, 128], "n_boot": 0}}
    ckpt = train(SRConfig.from_dict(cfg))
    m = load_sr_model(ckpt)
    # applied to the observed grid: its own pixel size is the inference resolution
    assert m.hparams["inference_res_m"] == pytest.approx(62.5 * 4)
    rng = np.random.default_rng(0)
    out = predict_array(m, 300 + rng.normal(size=(16, 16)), rng.uniform(0, 1, size=(64, 64)), tile=8, overlap=2)
    assert out.shape == (64, 64) and np.isfinite(out).all()
