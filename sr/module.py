"""Lightning module and data module of the training modes.

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

The modes are strategy objects (:mod:`sr.modes`, registry :data:`sr.MODE_SPECS`), never
compared as strings: a mode names the loss terms its training step sums (:data:`LOSS_TERMS`).

Every loss term is logged (``train/<term>``); validation also logs the RMSE (K) against a fine
truth when one exists (SISR targets, synthetic truth), the consistency error (K) and the
bicubic RMSE for reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

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
from sr.modelfile import atomic_torch_save, safe_torch_load
from sr.models import build_model, keys_upsample

__all__ = ["SRModule", "SRDataModule", "LOSS_TERMS", "ResumableSampler", "DivergenceGuard", "SafeCheckpointIO"]

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
        unknown = [t for t in self.spec.loss_terms if t not in LOSS_TERMS]
        if unknown:
            raise ValueError(f"mode {self.mode!r} names unknown loss term(s) {unknown}; known: {sorted(LOSS_TERMS)}")
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
        """All loss terms of the mode for a batch and its prediction (weighted).

        The terms are those the mode names (:attr:`sr.modes.Mode.loss_terms`), computed by
        :data:`LOSS_TERMS` and summed in that order.
        """
        terms: dict[str, Tensor] = {}
        for name in self.spec.loss_terms:
            terms.update(LOSS_TERMS[name](self, batch, sr))
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
        std = self.norm.lst_std
        # consistency in kelvin with the configured degradation (radiance is nonlinear)
        deg = degrade_tensor(self.norm.invert(sr.float()), self.factor, method=self.config["data"]["method"],
                             **self.degrade_kw)
        ok = batch["lr_mask"] & torch.isfinite(deg)
        diff = torch.where(ok, deg - self.norm.invert(batch["lr"]), torch.zeros_like(deg))
        cons = diff.abs().sum() / ok.sum().clamp_min(1)
        self.log("val/consistency_mae_K", cons, batch_size=bs, sync_dist=True)
        if "hr" in batch:
            m = batch["hr_mask"]
            n = m.sum().clamp_min(1)
            rmse = torch.sqrt((((sr.float() - batch["hr"]) ** 2) * m).sum() / n) * std
            up = keys_upsample(batch["lr"], self.factor)  # the `bicubic` baseline
            rmse_b = torch.sqrt((((up - batch["hr"]) ** 2) * m).sum() / n) * std
            self.log("val/rmse_K", rmse, prog_bar=True, batch_size=bs, sync_dist=True)
            self.log("val/bicubic_rmse_K", rmse_b, batch_size=bs, sync_dist=True)

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


# ----------------------------------------------------------------------------------------------
# loss terms: the training step of a mode sums those it names (sr.modes.Recipe.loss_terms)
# ----------------------------------------------------------------------------------------------
Batch = dict[str, Tensor]


def _pixel_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """Pixel loss against the fine target (supervised recipes)."""
    if not m.config["loss"]["w_pixel"]:
        return {}
    return {"pixel": m.pixel(sr, batch["hr"], batch["hr_mask"])}


def _consistency_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """Consistency of the degraded prediction with the coarse input."""
    if not m.config["loss"]["w_consistency"]:
        return {}
    return {"consistency": m.consistency(sr, batch["lr"], batch["lr_mask"])}


def _law_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """Structure functions of the prediction against the law's (masked by a fine target's mask)."""
    if not m.config["loss"]["w_law"]:
        return {}
    fine_mask = batch.get("hr_mask") if m.spec.supervised else None
    return {"law": m.law(sr, batch["sf_target"], fine_mask)}


def _texture_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """LST-NDVI texture coupling with the target slope and correlation ``tex``."""
    if not (m.config["loss"]["w_texture"] and "tex" in batch):
        return {}
    tex = batch["tex"]
    return {"texture": m.texture(sr, batch["ndvi"], tex[:, 0], tex[:, 1], batch["ndvi_mask"])}


def _spectral_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """Spectral slope of the prediction against the law's or the fine target's."""
    if not m.config["loss"]["w_spectral"]:
        return {}
    beta_t = m._beta_target(batch)
    return {} if beta_t is None else {"spectral": m.spectral(sr, beta_t)}


def _target_band_term(m: SRModule, batch: Batch, sr: Tensor) -> dict[str, Tensor]:
    """Run the target-band branch (:meth:`SRModule._target_band_losses`) when the batch carries it."""
    if "fine_in" not in batch or (m.spec.guided and "ndvi_fine_in" not in batch):
        return {}
    return m._target_band_losses(batch)


#: The loss terms by name: ``term(module, batch, prediction) -> {log name: weighted loss}``.
#: A mode's :attr:`sr.modes.Mode.loss_terms` are keys of this registry.
LOSS_TERMS: dict[str, Callable[[SRModule, Batch, Tensor], dict[str, Tensor]]] = {
    "pixel": _pixel_term,
    "consistency": _consistency_term,
    "law": _law_term,
    "texture": _texture_term,
    "spectral": _spectral_term,
    "target_band": _target_band_term,
}


class _EpochItems(Dataset):
    """A :class:`sr.data.PatchDataset` indexed by ``(epoch, item)``.

    The epoch travels with every index, so the augmentation draw is right in data-loader
    worker processes too (where a ``set_epoch`` call on the main process's copy is not seen).
    """

    def __init__(self, ds: PatchDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        epoch, i = key
        self.ds.set_epoch(epoch)
        return self.ds[i]


class ResumableSampler(DistributedSampler):
    """Shuffle seeded by ``(seed, epoch)``, sharded over ranks, able to start mid-epoch.

    Yields ``(epoch, index)`` pairs (for :class:`_EpochItems`). The permutation of an epoch
    depends only on the seed and the epoch (torch's :class:`~torch.utils.data.DistributedSampler`
    draw), never on how many epochs this process has run, so a resumed run sees the same
    batches as an uninterrupted one.

    Parameters
    ----------
    dataset
        The indexed dataset (its length is used).
    num_replicas, rank
        Data-parallel world size and this process's rank.
    seed
        Shuffle seed.

    """

    def __init__(self, dataset: Dataset, *, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self._pending: tuple[int, int] | None = None
        #: epoch and number of skipped indices of the iteration in progress
        self.iter_epoch, self.iter_skip = 0, 0

    def start_at(self, epoch: int, skip: int) -> None:
        """Make the next iteration, if it is of ``epoch``, start after its first ``skip`` indices.

        Only the next iteration is affected; when Lightning then asks for another epoch
        (:meth:`set_epoch`) the skip is dropped.
        """
        self.set_epoch(epoch)
        self._pending = (int(epoch), int(skip))

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch, skip = self.epoch, 0
        if self._pending is not None:
            if self._pending[0] == epoch:
                skip = self._pending[1]
            self._pending = None
        self.iter_epoch, self.iter_skip = epoch, skip
        idx = list(super().__iter__())[skip:]
        return iter([(epoch, int(i)) for i in idx])


class ResumableLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` over a :class:`ResumableSampler` that Lightning checkpoints.

    Lightning 2.x saves ``state_dict()`` of a train loader that has one (in the checkpoint's
    ``loops.fit_loop.state_dict.combined_loader``) and calls ``load_state_dict()`` on resume,
    before iterating. The state is the epoch and the number of batches of it handed out, so a
    run resumed from a mid-epoch checkpoint continues with the next batch of the same epoch
    (Lightning alone would restart the epoch's data from its first batch).

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`~torch.utils.data.DataLoader`; ``sampler`` must be a
        :class:`ResumableSampler`.
    batches_per_epoch
        Callable returning the number of batches an epoch trains on (Lightning's
        ``num_training_batches``, which ``limit_train_batches`` may make smaller than the
        loader); ``None``: the loader's length.

    """

    def __init__(self, *args: Any, batches_per_epoch: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, ResumableSampler):
            raise TypeError("ResumableLoader needs a ResumableSampler")
        self._batches_per_epoch = batches_per_epoch
        self._epoch, self._handed = 0, 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        it = super().__iter__()
        sampler = self.sampler
        assert isinstance(sampler, ResumableSampler) and self.batch_size is not None
        first = True
        for batch in it:
            if first:  # the sampler has started this iteration: record where it stands
                self._epoch, self._handed = sampler.iter_epoch, sampler.iter_skip // self.batch_size
                first = False
            self._handed += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Epoch, batches of it handed out so far, and the batches an epoch trains on."""
        per_epoch = self._batches_per_epoch() if self._batches_per_epoch is not None else len(self)
        per_epoch = int(per_epoch) if per_epoch != float("inf") else -1
        return {"epoch": int(self._epoch), "batches": int(self._handed), "batches_per_epoch": per_epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Start the next iteration where ``state`` stands (the next epoch if it was complete)."""
        epoch, done, per_epoch = int(state["epoch"]), int(state["batches"]), int(state["batches_per_epoch"])
        if 0 <= per_epoch <= done:
            epoch, done = epoch + 1, 0
        assert isinstance(self.sampler, ResumableSampler) and self.batch_size is not None
        self.sampler.start_at(epoch, done * self.batch_size)
        self._epoch, self._handed = epoch, done


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
            augment=d["augment"], seed=seed, guide_dropout=float(d.get("guide_dropout", 0.0)),
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
        """Shuffled training patches: seeded per epoch, resumable mid-epoch (:class:`ResumableLoader`)."""
        d = self.config["data"]
        assert self.train_ds is not None, "call setup() first"
        items = _EpochItems(self.train_ds)
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = ResumableSampler(items, num_replicas=world, rank=rank, seed=int(self.config["trainer"]["seed"]))
        bs = int(d["batch_size"])
        per_epoch = (lambda: trainer.num_training_batches) if trainer is not None else None
        return ResumableLoader(
            items, batch_size=bs, sampler=sampler, num_workers=d["num_workers"],
            drop_last=len(sampler) > bs, persistent_workers=d["num_workers"] > 0, batches_per_epoch=per_epoch,
        )

    def val_dataloader(self) -> DataLoader | list:
        """Return the validation patches (no augmentation)."""
        if self.val_ds is None:
            return []
        d = self.config["data"]
        return DataLoader(self.val_ds, batch_size=d["batch_size"], shuffle=False, num_workers=d["num_workers"])


class SafeCheckpointIO(TorchCheckpointIO):
    """Checkpoints written atomically and read back with ``weights_only=True`` only.

    Writing goes to a temporary file in the checkpoint folder that is renamed over the target
    (Lightning's own local writer goes through the system temporary folder, which is a copy,
    not a rename, when that folder is on another file system). Reading refuses anything but
    tensors and plain containers (:func:`sr.modelfile.safe_torch_load`), so resuming from an
    untrusted checkpoint cannot run code.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically."""
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Read a checkpoint with ``torch.load(weights_only=True)``."""
        ckpt = safe_torch_load(path, map_location=map_location or "cpu")
        if not isinstance(ckpt, dict):
            raise TypeError(f"{path}: a checkpoint must hold a dict, got {type(ckpt).__name__}")
        return ckpt


class DivergenceGuard(L.Callback):
    """Stop training when the loss or the weights stop being finite, before that step is saved.

    Runs at the end of every training batch, before the checkpoint callbacks (Lightning runs
    :class:`~lightning.pytorch.callbacks.ModelCheckpoint` last), and raises
    :class:`sr.train.TrainingDivergedError` naming the last good checkpoint.

    Parameters
    ----------
    last_checkpoint
        Path of the run's ``last.ckpt``.

    """

    def __init__(self, last_checkpoint: Any) -> None:
        self.last_checkpoint = last_checkpoint

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Check the step's loss and the weights."""
        from pathlib import Path

        from sr.train import TrainingDivergedError

        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        problem = ""
        if isinstance(loss, Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            problem = f"the training loss is {float(loss.detach().float().mean())}"
        else:
            sums = [p.detach().sum() for p in pl_module.parameters()]
            if sums and not bool(torch.isfinite(torch.stack(sums).float()).all()):
                problem = "the weights are no longer finite"
        if not trainer.strategy.reduce_boolean_decision(bool(problem), all=False):
            return
        problem = problem or "another process's loss or weights are no longer finite"
        last = Path(self.last_checkpoint)
        kept = (f"the last good checkpoint is kept: {last}" if last.is_file()
                else "no checkpoint had been written yet")
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        raise TrainingDivergedError(
            f"training diverged: {problem} at epoch {trainer.current_epoch}, step {trainer.global_step}; "
            f"stopped without saving this step, {kept}. Lower trainer.lr (now {lr:g}) or check the data",
            last if last.is_file() else None,
        )
