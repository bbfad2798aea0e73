"""Lightning module and data module of the four training modes.

Modes (``config["mode"]``):

``sisr_invariant``
    (a) learn 4 km -> 1 km with a pixel loss, apply at 1 km -> 250 m: the scale-invariant
    baseline.
``sisr_corrected``
    (b) = (a) + conditioning (scale and law parameters) + law loss on the 4 km -> 1 km output
    + a **target-band branch**: the observed (1 km) field itself is super-resolved to 250 m with
    the conditioning of that band and constrained by the law loss (structure functions predicted
    by the law from the 1 km field) and by consistency with the 1 km observation. No 250 m LST
    is needed.
``disr``
    (c) scale-invariance-free DISR trained at the target scale: upsampled LST + fine NDVI, loss =
    consistency (degrade(SR) vs the coarse observation) + NDVI texture coupling whose slope and
    correlation are measured on the coarse observation.
``disr_corrected``
    (d) = (c) + conditioning + law loss; the texture coupling takes its slope and correlation
    from the law's LST-NDVI relation at the fine scale.
``disr_invariant``
    (e) the recipe of the strongest published network: LST + NDVI learning 4 km -> 1 km with a
    pixel loss (NDVI on the observed grid: its own, or the block mean of the fine NDVI), applied
    at 1 km -> 250 m with the 250 m NDVI: scale invariance with a guide.
``disr_invariant_corrected``
    (f) = (e) + conditioning + law loss + a guided target-band branch: the observed 1 km field
    and its 250 m NDVI super-resolved to 250 m, constrained by the law's structure functions,
    consistency with the 1 km observation and the law's fine-scale LST-NDVI texture.

The modes are described by properties (:data:`sr.MODE_SPECS`: guided, supervised, corrected),
never by string comparisons.

Every loss term is logged (``train/<term>``); validation also logs the RMSE (K) against a fine
truth when one exists (SISR targets, synthetic truth), the consistency error (K) and the
bicubic RMSE for reference.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from sr import mode_spec
from sr.data import (
    Normalisation,
    PatchDataset,
    attach_targets,
    load_fields,
    make_scenes,
    patch_index,
    split_scenes,
)
from sr.degrade import degrade_tensor
from sr.lawtargets import LawTargets
from sr.losses import ConsistencyLoss, LawLoss, NDVITextureLoss, PixelLoss, SpectralSlopeLoss
from sr.models import bicubic_upsample, build_model

__all__ = ["SRModule", "SRDataModule"]

log = logging.getLogger(__name__)


class SRModule(L.LightningModule):
    """Super-resolution network with the losses of one training mode.

    Parameters
    ----------
    config
        The resolved configuration (:meth:`sr.train.SRConfig.to_dict`): ``mode``, ``data``,
        ``model``, ``loss``, ``trainer`` sections.
    norm
        Normalisation (:meth:`sr.data.Normalisation.to_dict`).
    cond_dim
        Length of the conditioning vector (0 = unconditioned).
    predict_cond
        Conditioning vector for inference on the observed resolution (stored so that
        :mod:`sr.predict` needs no law file), or ``None``.
    inference_res_m
        Pixel size (m) of the inputs the model is meant to be applied to at inference.
    cond_names
        Names of the conditioning entries.

    All arguments are saved as hyper-parameters (inside the checkpoint).

    """

    def __init__(
        self,
        config: dict[str, Any],
        norm: dict[str, float],
        cond_dim: int = 0,
        predict_cond: list[float] | None = None,
        inference_res_m: float | None = None,
        cond_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.mode = config["mode"]
        self.spec = mode_spec(self.mode)
        self.norm = Normalisation.from_dict(norm)
        d, lc, mc = config["data"], config["loss"], config["model"]
        self.factor = int(d["factor"])
        self.net = build_model(mc["name"], factor=self.factor, cond_dim=cond_dim, **mc.get("options", {}))
        self.cond_dim = cond_dim
        std, mean = self.norm.lst_std, self.norm.lst_mean
        self.pixel = PixelLoss(lc["pixel"], weight=lc["w_pixel"])
        # the forward model's options (checkpoints written before mtf_nyquist existed: default)
        self.degrade_kw = {"mtf_nyquist": float(d.get("mtf_nyquist", 0.3))} if d["method"] == "psf" else {}
        self.consistency = ConsistencyLoss(
            self.factor, method=d["method"], kind=lc["pixel"], mean=mean, std=std, weight=lc["w_consistency"],
            **self.degrade_kw,
        )
        self.law = LawLoss(lc["law_q"], lc["law_lags"], std=std, weight=lc["w_law"])
        self.fine_consistency = ConsistencyLoss(
            self.factor, method=d["method"], kind=lc["pixel"], mean=mean, std=std, weight=lc["w_fine_consistency"],
            **self.degrade_kw,
        )
        self.texture = NDVITextureLoss(self.factor, weight=lc["w_texture"])
        self.spectral = SpectralSlopeLoss(weight=lc["w_spectral"])

    # ------------------------------------------------------------------------------------------
    def forward(self, lr: Tensor, guide: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        """Super-resolve normalised ``lr`` (see :class:`sr.models.SRModel`)."""
        return self.net(lr, guide=guide, cond=cond)

    def _run(self, batch: dict[str, Tensor]) -> Tensor:
        guide = batch.get("ndvi") if self.net.needs_guide else None
        return self(batch["lr"], guide=guide, cond=batch.get("cond") if self.cond_dim else None)

    def _losses(self, batch: dict[str, Tensor], sr: Tensor) -> dict[str, Tensor]:
        """All loss terms of the mode for a batch and its prediction (weighted)."""
        terms: dict[str, Tensor] = {}
        lc = self.config["loss"]
        spec = self.spec
        if spec.supervised and lc["w_pixel"]:
            terms["pixel"] = self.pixel(sr, batch["hr"], batch["hr_mask"])
        if lc["w_consistency"]:
            terms["consistency"] = self.consistency(sr, batch["lr"], batch["lr_mask"])
        if spec.corrected and lc["w_law"]:
            fine_mask = batch.get("hr_mask") if spec.supervised else None
            terms["law"] = self.law(sr, batch["sf_target"], fine_mask)
        if not spec.supervised and lc["w_texture"] and "tex" in batch:
            tex = batch["tex"]
            terms["texture"] = self.texture(sr, batch["ndvi"], tex[:, 0], tex[:, 1], batch["ndvi_mask"])
        if lc["w_spectral"]:
            beta_t = self._beta_target(batch)
            if beta_t is not None:
                terms["spectral"] = self.spectral(sr, beta_t)
        if spec.target_band and "fine_in" in batch and (not spec.guided or "ndvi_fine_in" in batch):
            terms.update(self._target_band_losses(batch))
        return terms

    def _target_band_losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Loss terms of the target-band branch: the observed field super-resolved under the law."""
        lc = self.config["loss"]
        cond_f = batch.get("cond_fine") if self.cond_dim else None
        guide = batch.get("ndvi_fine_in") if self.spec.guided else None
        sr_f = self.net(batch["fine_in"], guide=guide, cond=cond_f)
        terms: dict[str, Tensor] = {}
        if lc["w_law"]:
            terms["law_fine"] = self.law(sr_f, batch["sf_target_fine"])
        if lc["w_fine_consistency"]:
            terms["consistency_fine"] = self.fine_consistency(sr_f, batch["fine_in"], batch["fine_in_mask"])
        if guide is not None and lc["w_texture"] and "tex_fine" in batch:
            tex = batch["tex_fine"]
            terms["texture_fine"] = self.texture(sr_f, guide, tex[:, 0], tex[:, 1], batch["ndvi_fine_in_mask"])
        return terms

    def _beta_target(self, batch: dict[str, Tensor]) -> Tensor | None:
        """Target spectral slope: from the law's predicted S_2 (corrected) or the fine target."""
        if "sf_target" in batch:
            q = list(self.law.q)
            if 2.0 in q:
                S2 = batch["sf_target"][:, q.index(2.0)].double()
                lags = torch.log(torch.as_tensor(self.law.lags, dtype=torch.float64, device=S2.device))
                lc = lags - lags.mean()
                ls = torch.log(S2.clamp_min(1e-12))
                slope = ((ls - ls.mean(dim=1, keepdim=True)) * lc).sum(dim=1) / (lc**2).sum()
                return (2.0 + slope).to(batch["lr"].dtype)
        if self.spec.supervised and "hr" in batch:
            from sr.losses import spectral_slope_torch

            with torch.no_grad():
                return spectral_slope_torch(batch["hr"])[:, 0]
        return None

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """One optimisation step: the weighted sum of the mode's loss terms."""
        sr = self._run(batch)
        terms = self._losses(batch, sr)
        loss = torch.stack(list(terms.values())).sum()
        bs = batch["lr"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for k, v in terms.items():
            self.log(f"train/{k}", v, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss terms plus physical metrics (K)."""
        sr = self._run(batch)
        terms = self._losses(batch, sr)
        bs = batch["lr"].shape[0]
        loss = torch.stack(list(terms.values())).sum()
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        for k, v in terms.items():
            self.log(f"val/{k}", v, batch_size=bs, sync_dist=True)
        std, mean = self.norm.lst_std, self.norm.lst_mean
        # consistency in kelvin with the configured degradation (radiance is nonlinear)
        deg = degrade_tensor(sr.float() * std + mean, self.factor, method=self.config["data"]["method"],
                             **self.degrade_kw)
        ok = batch["lr_mask"] & torch.isfinite(deg)
        diff = torch.where(ok, deg - (batch["lr"] * std + mean), torch.zeros_like(deg))
        cons = diff.abs().sum() / ok.sum().clamp_min(1)
        self.log("val/consistency_mae_K", cons, batch_size=bs, sync_dist=True)
        if "hr" in batch:
            m = batch["hr_mask"]
            n = m.sum().clamp_min(1)
            rmse = torch.sqrt((((sr.float() - batch["hr"]) ** 2) * m).sum() / n) * std
            up = bicubic_upsample(batch["lr"], self.factor)
            rmse_b = torch.sqrt((((up - batch["hr"]) ** 2) * m).sum() / n) * std
            self.log("val/rmse_K", rmse, prog_bar=True, batch_size=bs, sync_dist=True)
            self.log("val/bicubic_rmse_K", rmse_b, batch_size=bs, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        """Advance the augmentation draw of the training set."""
        dm = getattr(self.trainer, "datamodule", None)
        ds = getattr(dm, "train_ds", None)
        if isinstance(ds, PatchDataset):
            ds.set_epoch(self.current_epoch)

    def configure_optimizers(self) -> Any:
        """Adam(W) with an optional cosine schedule over the epochs."""
        tc = self.config["trainer"]
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"model {self.config['model']['name']!r} has no trainable parameter")
        opt = torch.optim.AdamW(params, lr=tc["lr"], weight_decay=tc["weight_decay"])
        if tc["scheduler"] == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(tc["max_epochs"]), 1))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        return opt


class SRDataModule(L.LightningDataModule):
    """Scenes from a source, a seeded train/validation split by scene, patch loaders.

    Parameters
    ----------
    config
        The resolved configuration (``mode``, ``data``, ``loss`` sections are used).
    targets
        :class:`sr.lawtargets.LawTargets` (law targets and conditioning).
    conditioned
        Whether the model takes conditioning vectors.
    norm
        Normalisation to use; ``None`` fits it on the training scenes.

    """

    def __init__(
        self,
        config: dict[str, Any],
        targets: LawTargets,
        *,
        conditioned: bool,
        norm: Normalisation | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.targets = targets
        self.conditioned = conditioned
        self.norm = norm
        self.train_ds: PatchDataset | None = None
        self.val_ds: PatchDataset | None = None
        self._ready = False

    def setup(self, stage: str | None = None) -> None:
        """Load the fields, build scenes and targets, split, index patches (once)."""
        if self._ready:
            return
        d, mode = self.config["data"], self.config["mode"]
        seed = int(self.config["trainer"]["seed"])
        fields = load_fields(d["source"], factor=d["factor"], mode=mode, **d.get("options", {}))
        kw = {"mtf_nyquist": float(d.get("mtf_nyquist", 0.3))} if d["method"] == "psf" else {}
        scenes = make_scenes(fields, mode, d["factor"], method=d["method"], **kw)
        attach_targets(scenes, mode, self.targets, conditioned=self.conditioned)
        # the members of an ensemble (several training seeds) share one split and normalisation
        split_seed = d.get("split_seed")
        train, val = split_scenes(scenes, d["val_fraction"], seed if split_seed is None else int(split_seed))
        if self.norm is None:
            self.norm = Normalisation.fit(train)
        self.scenes_train, self.scenes_val = train, val
        p = d["patch"]
        self.train_ds = PatchDataset(
            train, patch_index(train, p, d.get("stride"), max_missing=d["max_missing"]), p, self.norm,
            augment=d["augment"], seed=seed,
        )
        if val:
            vidx = patch_index(val, p, d.get("stride"), max_missing=d["max_missing"])
            self.val_ds = PatchDataset(val, vidx, p, self.norm, augment=False) if vidx else None
        log.info(
            "data: %d train scenes (%d patches), %d val scenes (%d patches)",
            len(train), len(self.train_ds), len(val), len(self.val_ds) if self.val_ds else 0,
        )
        self._ready = True

    def train_dataloader(self) -> DataLoader:
        """Shuffled training patches (seeded)."""
        d = self.config["data"]
        g = torch.Generator().manual_seed(int(self.config["trainer"]["seed"]))
        return DataLoader(
            self.train_ds, batch_size=d["batch_size"], shuffle=True, num_workers=d["num_workers"],
            generator=g, drop_last=len(self.train_ds) > d["batch_size"],
            persistent_workers=d["num_workers"] > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        """Return the validation patches (no augmentation)."""
        if self.val_ds is None:
            return []
        d = self.config["data"]
        return DataLoader(self.val_ds, batch_size=d["batch_size"], shuffle=False, num_workers=d["num_workers"])
