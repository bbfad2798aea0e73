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


# ----------------------------------------------------------------------------------------------
# a new mode is a small recipe (or a composition of existing parts) registered by name
# ----------------------------------------------------------------------------------------------
from sr.modes import GuidedPairs, Mode, register_mode  # noqa: E402


class _GuidedPairsWithConsistency(GuidedPairs):
    """Guided pairs that also keep the prediction consistent with the degraded input by default."""

    default_w_consistency = 1.0


@pytest.fixture
def new_mode():
    """Register ``disr_invariant_consistent`` for one test (then remove it from the registry)."""
    mode = register_mode(Mode("disr_invariant_consistent", _GuidedPairsWithConsistency()))
    try:
        yield mode
    finally:
        MODE_SPECS.pop(mode.name)


def _tiny_config(mode: str, out_dir) -> dict:
    return {"mode": mode, "out_dir": str(out_dir),
            "data": {"source": "synthetic", "patch": 4, "stride": 4, "batch_size": 2, "val_fraction": 0.0,
                     "options": {"kinds": ["mixed"], "n_per_kind": 1, "shape": [128, 128]}},
            "model": {"options": {"base": 4, "depth": 1}},
            "trainer": {"max_steps": 1, "max_epochs": 1, "accelerator": "cpu", "devices": 1}}


def test_register_mode_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register_mode(Mode("disr", GuidedPairs()))
    assert mode_spec("disr").supervised is False  # the built-in one is untouched


def test_a_registered_composed_mode_trains_one_step_without_other_edits(new_mode, tmp_path):
    import torch

    from sr.module import SRDataModule, SRModule
    from sr.train import SRConfig, build_targets

    assert "disr_invariant_consistent" not in MODES  # MODES: the built-in modes only
    cfg = SRConfig.from_dict(_tiny_config(new_mode.name, tmp_path)).resolve()
    # the recipe's defaults reach the configuration: guided network, consistency on, no law
    assert (cfg.model.name, cfg.loss.w_consistency, cfg.model.conditioning) == ("disr_unet", 1.0, False)
    conf = cfg.to_dict()
    dm = SRDataModule(conf, build_targets(cfg), conditioned=False)
    dm.setup("fit")
    s0 = dm.scenes_train[0]
    assert s0.hr_is_target and s0.ndvi.shape == s0.hr.shape  # guided pairs: observed field is the target
    torch.manual_seed(0)
    module = SRModule(conf, dm.norm.to_dict())
    batch = next(iter(dm.train_dataloader()))
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in module.parameters()]
    terms = module._losses(batch, module._run(batch))
    # pixel (supervised pairs) and consistency (this recipe's default weight): nothing else
    assert set(terms) == {"pixel", "consistency"}
    assert all(torch.isfinite(v) and v > 0 for v in terms.values())
    loss = torch.stack(list(terms.values())).sum()
    loss.backward()
    opt.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))
    # the built-in counterpart has no consistency term (weight 0)
    base = SRConfig.from_dict(_tiny_config("disr_invariant", tmp_path)).resolve().to_dict()
    assert set(SRModule(base, dm.norm.to_dict())._losses(batch, module._run(batch))) == {"pixel"}


@pytest.mark.e2e
def test_a_registered_mode_trains_saves_and_predicts_through_the_driver(new_mode, tmp_path):
    from sr.predict import load_sr_model, predict_array
    from sr.train import SRConfig, train

    ckpt = train(SRConfig.from_dict(_tiny_config(new_mode.name, tmp_path / "run")))
    m = load_sr_model(ckpt)
    assert m.hparams["config"]["mode"] == new_mode.name
    assert m.hparams["inference_res_m"] == pytest.approx(62.5 * 4)  # the observed grid
    rng = np.random.default_rng(0)
    out = predict_array(m, 300 + rng.normal(size=(8, 8)), rng.uniform(0, 1, size=(32, 32)), tile=8, overlap=2)
    assert out.shape == (32, 32) and np.isfinite(out).all()
