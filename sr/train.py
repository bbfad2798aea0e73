"""Training configuration and driver.

A configuration is a JSON (``.json``) or TOML (``.toml``) file with the sections of
:class:`SRConfig`; every key has a default, so the smallest config is ``{"mode": "disr"}``.
Example (TOML)::

    mode = "sisr_corrected"          # a key of sr.MODE_SPECS: sisr_invariant | sisr_corrected | disr
                                     # | disr_corrected | disr_invariant | disr_invariant_corrected
    out_dir = "runs/sisr_corrected"

    [data]
    source = "modis_lst_2020"        # synthetic | modis_lst_2020 | modis_aster
    factor = 4
    patch = 16                       # coarse patch size (pixels)
    batch_size = 16
    [data.options]                   # passed to the source (see sr.data)
    which = ["day"]
    limit = 400

    [model]
    name = "unet"                    # a key of sr.models.MODELS
    [model.options]
    base = 16
    depth = 3

    [loss]
    w_law = 0.1

    [law]
    path = "law.nc"                  # or a [law.fit] table: fit on synthetic landscapes

    [trainer]
    max_epochs = 20
    precision = "auto"               # bf16-mixed on a GPU that supports it, else 32-true
    checkpoint_every_n_steps = 100   # last.ckpt every N optimiser steps (0: epoch ends only)

:func:`train` writes under ``out_dir``: ``checkpoints/`` (``last.ckpt`` and the best by
``val/loss``; resumable), ``logs/`` (CSV and TensorBoard), ``config.json`` (the resolved
configuration), ``normalisation.json`` and, when a law is used, ``law.nc``. The resolved config,
the normalisation and the inference conditioning are also in the checkpoint's hyper-parameters.

Fault tolerance (see ``docs/models.md``):

* ``checkpoints/last.ckpt`` is rewritten every ``trainer.checkpoint_every_n_steps`` optimiser
  steps and at every epoch end (atomically: a kill never leaves it truncated).
* ``trainer.resume`` (``scalelaws train --resume``) continues from ``last.ckpt``: optimiser,
  schedule, loop counters and the position in the training data are restored, and the data
  order and augmentation are seeded per epoch and per item, so a run killed at any point and
  resumed ends with the same weights as an uninterrupted one (deterministic CPU runs).
* A fresh (not resumed) run into a folder holding an earlier run moves that run's files
  (``checkpoints/``, ``logs/``, ``config.json``, ``normalisation.json``, a fitted ``law.nc``)
  into ``out_dir/previous-<UTC timestamp>/``; nothing is deleted.
* A non-finite loss or weight stops training with :class:`TrainingDivergedError` before the
  step is checkpointed, so ``last.ckpt`` stays the last good state.
* Checkpoints are read back with ``torch.load(weights_only=True)`` only (resume included).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scalelaws.errors import InputError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: JSON configs only
    tomllib = None  # type: ignore[assignment]

__all__ = [
    "DataConfig",
    "ModelConfig",
    "LossConfig",
    "LawConfig",
    "TrainerConfig",
    "SRConfig",
    "load_config",
    "train",
    "build_targets",
    "ConfigError",
    "TrainingDivergedError",
]

log = logging.getLogger(__name__)



class ConfigError(InputError):
    """The training configuration is invalid."""


class TrainingDivergedError(InputError):
    """The training loss or the weights became NaN or infinite (``path``: the last good checkpoint)."""


@dataclass
class DataConfig:
    """Data section: source, pairs, patches, split."""

    source: str = "synthetic"
    factor: int = 4
    patch: int = 16
    stride: int | None = None
    method: str = "mean"
    mtf_nyquist: float = 0.3
    max_missing: float = 0.25
    val_fraction: float = 0.2
    split_seed: int | None = None
    batch_size: int = 16
    num_workers: int = 0
    augment: bool = True
    guide_dropout: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Model section: registry name, architecture options, conditioning switch."""

    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    conditioning: bool | None = None


@dataclass
class LossConfig:
    """Loss weights and law-loss settings (``None`` weights take the mode's default)."""

    pixel: str = "l1"
    w_pixel: float = 1.0
    w_consistency: float | None = None
    w_law: float = 0.1
    w_fine_consistency: float = 1.0
    w_texture: float = 0.1
    w_spectral: float = 0.0
    law_q: list[float] = field(default_factory=lambda: [1.0, 2.0])
    law_lags: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    coarse_lags: list[int] = field(default_factory=lambda: [1, 2, 4])


@dataclass
class LawConfig:
    """Correction law: a saved law (``path``) or a fit on synthetic landscapes (``fit``).

    ``fit`` keys: ``kinds`` (landscape kinds), ``n_per_kind``, ``shape``, ``pixel_size``,
    ``seed`` (use seeds distinct from the training data), ``q``, ``n_boot``.
    """

    path: str | None = None
    fit: dict[str, Any] | None = None
    landscape_aware: bool = True


@dataclass
class TrainerConfig:
    """Lightning trainer and optimiser settings."""

    max_epochs: int = 20
    max_steps: int = -1
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "auto"
    seed: int = 0
    deterministic: bool = False
    gradient_clip_val: float | None = 1.0
    log_every_n_steps: int = 10
    limit_train_batches: Any = 1.0
    limit_val_batches: Any = 1.0
    check_val_every_n_epoch: int = 1
    enable_progress_bar: bool = False
    resume: Any = False
    checkpoint_every_n_steps: int = 100


@dataclass
class SRConfig:
    """The whole training configuration."""

    mode: str = "sisr_invariant"
    out_dir: str = "runs/sr"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    law: LawConfig = field(default_factory=LawConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def resolve(self) -> SRConfig:
        """Fill the mode-dependent defaults and validate (returns ``self``)."""
        from sr import MODE_SPECS
        from sr.models import MODELS

        spec = MODE_SPECS.get(self.mode)
        if spec is None:
            raise ConfigError(f"mode must be one of {tuple(MODE_SPECS)}, got {self.mode!r}")
        if self.model.name is None:
            self.model.name = spec.default_model
        if self.model.name not in MODELS:
            raise ConfigError(f"unknown model {self.model.name!r}; registered: {sorted(MODELS)}")
        if self.model.conditioning is None:
            self.model.conditioning = spec.corrected
        if self.loss.w_consistency is None:
            self.loss.w_consistency = spec.recipe.default_w_consistency
        if spec.corrected and not (self.law.path or self.law.fit):
            raise ConfigError(f"mode {self.mode!r} needs a correction law: set law.path or law.fit")
        if self.data.method not in ("mean", "radiance", "psf"):
            raise ConfigError(f"data.method must be mean, radiance or psf, got {self.data.method!r}")
        if not 0.0 < self.data.mtf_nyquist < 1.0:
            raise ConfigError(f"data.mtf_nyquist must lie in (0, 1), got {self.data.mtf_nyquist!r}")
        if self.loss.pixel not in ("l1", "mse"):
            raise ConfigError(f"loss.pixel must be l1 or mse, got {self.loss.pixel!r}")
        if self.trainer.scheduler not in ("cosine", "none"):
            raise ConfigError(f"trainer.scheduler must be cosine or none, got {self.trainer.scheduler!r}")
        if self.data.patch * self.data.factor < 8:
            raise ConfigError("data.patch * data.factor must be at least 8 pixels")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, path: str | Path | None = None) -> SRConfig:
        """Build from a nested dict, rejecting unknown keys and ill-typed values (file named)."""
        sections = {"data": DataConfig, "model": ModelConfig, "loss": LossConfig, "law": LawConfig, "trainer": TrainerConfig}
        top = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - top
        if unknown:
            raise ConfigError(f"unknown configuration key(s) {sorted(unknown)}; allowed: {sorted(top)}", path)
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k in sections:
                if not isinstance(v, dict):
                    raise ConfigError(f"section [{k}] must be a table/object", path)
                allowed = {f.name for f in dataclasses.fields(sections[k])}
                bad = set(v) - allowed
                if bad:
                    raise ConfigError(f"unknown key(s) {sorted(bad)} in [{k}]; allowed: {sorted(allowed)}", path)
                _check_types(sections[k], v, f"{k}.", path)
                kw[k] = sections[k](**v)
            else:
                kw[k] = v
        _check_types(cls, {k: v for k, v in kw.items() if k not in sections}, "", path)
        return cls(**kw)


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from JSON/TOML) fits the dataclass field type ``hint``."""
    import types
    import typing

    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an integer is a fine float (TOML ``lr = 1``)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and (
            not args or all(_type_ok(v, args[0]) for v in value))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a type this check does not know: left to the consumer


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _check_types(section: type, values: dict[str, Any], prefix: str, path: Any) -> None:
    """Raise :class:`ConfigError` on a value whose type does not fit its field (e.g. ``'many'`` steps)."""
    import typing

    hints = typing.get_type_hints(section)
    for key, value in values.items():
        hint = hints.get(key)
        if hint is not None and not _type_ok(value, hint):
            raise ConfigError(
                f"{prefix}{key} = {value!r} has the wrong type: expected {_type_name(hint)}", path)


def load_config(path: str | Path) -> SRConfig:
    """Read a JSON or TOML configuration file (not resolved: call :meth:`SRConfig.resolve`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("configuration file not found", path)
    try:
        if path.suffix.lower() == ".toml":
            if tomllib is None:
                raise ConfigError("TOML configs need Python >= 3.11; use JSON", path)
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        elif path.suffix.lower() == ".json":
            raw = json.loads(path.read_text())
        else:
            raise ConfigError("configuration must be .json or .toml", path)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot parse the configuration: {exc}", path) from exc
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a table/object at the top level", path)
    return SRConfig.from_dict(raw, path=path)


def quiet_lightning() -> None:
    """Silence Lightning's progress chatter and its worker warnings (the runners log their own)."""
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                 "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def sr_config(mode: str, out_dir: str | Path, data: dict[str, Any], *, unet: dict[str, Any],
              steps: int, seed: int = 0, law: str | Path | None = None,
              loss: dict[str, Any] | None = None, lr: float | None = None,
              first_guess: str | None = None, limit_val_batches: int = 2) -> dict[str, Any]:
    """Build an SR training config for the study runners (demo and benchmark): the one builder.

    The data section is the caller's policy (source, patches, folds); everything else is
    assembled here the same way for every runner: the U-Net options (and the guided modes'
    first guess), the loss weights, a step budget on the CPU, the seed and the law.

    Returns
    -------
    dict
        A config for :meth:`SRConfig.from_dict`.

    """
    from sr import mode_spec

    model: dict[str, Any] = {"options": dict(unet)}
    if first_guess is not None and mode_spec(mode).guided:
        model["options"]["base_interp"] = first_guess
    trainer: dict[str, Any] = {"max_epochs": 10_000, "max_steps": int(steps), "accelerator": "cpu",
                               "devices": 1, "seed": int(seed), "log_every_n_steps": 5,
                               "limit_val_batches": int(limit_val_batches)}
    if lr is not None:
        trainer["lr"] = float(lr)
    cfg: dict[str, Any] = {"mode": mode, "out_dir": str(out_dir), "data": dict(data), "model": model,
                           "trainer": trainer}
    if loss:
        cfg["loss"] = dict(loss)
    if law is not None:
        cfg["law"] = {"path": str(Path(law).resolve())}
    return cfg


def _fit_law(spec: dict[str, Any]) -> Any:
    """Fit a correction law on synthetic landscapes (high-resolution evidence)."""
    import numpy as np

    from scalelaws.laws import CorrectionLaw
    from scalelaws.synthetic import LANDSCAPES, landscape

    kinds = spec.get("kinds", list(LANDSCAPES))
    n = int(spec.get("n_per_kind", 1))
    seed = int(spec.get("seed", 1000))
    shape = tuple(int(v) for v in spec.get("shape", (256, 256)))
    lst, ndvi, classes = [], [], []
    for kind in kinds:
        for i in range(n):
            ds = landscape(kind, shape=shape, pixel_size=float(spec.get("pixel_size", 62.5)), seed=seed + i)
            lst.append(ds["lst"])
            ndvi.append(ds["ndvi"])
            classes.append({kind: np.ones(shape, dtype=bool)})  # one landscape per scene
    kw: dict[str, Any] = {}
    if "scales_m" in spec:
        kw["scales_m"] = tuple(spec["scales_m"])
    return CorrectionLaw.fit(
        lst,
        ndvi=ndvi,
        classes=classes,
        q=tuple(spec.get("q", (1, 2, 3, 4))),
        n_boot=int(spec.get("n_boot", 20)),
        rng=np.random.default_rng(seed),
        **kw,
    )


def build_targets(cfg: SRConfig, out_dir: Path | None = None) -> Any:
    """Build the :class:`sr.lawtargets.LawTargets` of a resolved config (loading or fitting the law).

    A fitted law is saved to ``out_dir / "law.nc"`` and ``cfg.law.path`` points to it afterwards.
    """
    from sr.lawtargets import LawTargets

    law = None
    if cfg.law.path:
        from scalelaws.laws import load_law

        law = load_law(cfg.law.path)
    elif cfg.law.fit:
        law = _fit_law(cfg.law.fit)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / "law.nc"
            law.to_netcdf(path)
            cfg.law.path = str(path.resolve())
            log.info("fitted law saved to %s", path)
    return LawTargets(
        law,
        q=cfg.loss.law_q,
        lags=cfg.loss.law_lags,
        coarse_lags=cfg.loss.coarse_lags,
        use_law_conditioning=bool(cfg.model.conditioning),
        landscape_aware=cfg.law.landscape_aware,
    )


#: What a run writes directly under ``out_dir`` (moved aside by a fresh run; see :func:`train`).
_RUN_FILES = ("checkpoints", "logs", "config.json", "normalisation.json", "law.nc")


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _move_previous_run(out: Path, cfg: SRConfig) -> Path | None:
    """Move an earlier run's files out of the way into ``out/previous-<UTC time>/``.

    ``law.nc`` stays when it is the law this configuration reads (``law.path``).
    Returns the new folder, or ``None`` when ``out`` held no earlier run.
    """
    keep = Path(cfg.law.path).resolve() if cfg.law.path else None
    present = [n for n in _RUN_FILES if (out / n).exists() and (out / n).resolve() != keep]
    if not present or (present == ["checkpoints"] and not any((out / "checkpoints").iterdir())):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest, k = out / f"previous-{stamp}", 1
    while dest.exists():
        dest, k = out / f"previous-{stamp}-{k}", k + 1
    dest.mkdir()
    for name in present:
        (out / name).rename(dest / name)
    log.warning("%s held an earlier run: moved %s to %s (pass --resume to continue it instead)",
                out, ", ".join(present), dest)
    return dest


def _resume_checkpoint(cfg: SRConfig, ckpt_dir: Path) -> Path | None:
    """Find the checkpoint ``trainer.resume`` asks for (``None``: start afresh)."""
    r = cfg.trainer.resume
    if not r:
        return None
    path = ckpt_dir / "last.ckpt" if r is True or r == "last" else Path(str(r))
    if not path.is_file():
        if r is True or r == "last":
            log.warning("no checkpoint to resume from at %s: starting afresh", path)
            return None
        raise ConfigError("the checkpoint to resume from does not exist", path)
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ConfigError("cannot resume: the checkpoint is truncated or not a torch checkpoint", path)
    return path


def _precision(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def train(
    config: SRConfig | str | Path,
    *,
    out_dir: str | Path | None = None,
    max_epochs: int | None = None,
) -> Path:
    """Train a model; return the path of the last checkpoint.

    ``checkpoints/last.ckpt`` is written every ``trainer.checkpoint_every_n_steps`` steps
    and at every epoch end. With ``trainer.resume`` (``True``/``"last"``: ``last.ckpt``, or a
    checkpoint path) training continues exactly where that checkpoint stands. Without it, an
    earlier run's files in ``out_dir`` are moved to ``out_dir/previous-<UTC time>/``.

    Parameters
    ----------
    config
        A :class:`SRConfig` or the path of a JSON/TOML configuration.
    out_dir
        Overrides ``config.out_dir``.
    max_epochs
        Overrides ``config.trainer.max_epochs``.

    Raises
    ------
    ConfigError
        Invalid configuration, or a checkpoint to resume from that is missing or truncated.
    TrainingDivergedError
        The loss or the weights became NaN or infinite; ``last.ckpt`` is the last good state.
    sr.modelfile.ModelFileError
        The checkpoint to resume from holds something else than tensors and plain data.

    """
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from sr.module import DivergenceGuard, SafeCheckpointIO, SRDataModule, SRModule

    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    if out_dir is not None:
        cfg.out_dir = str(out_dir)
    if max_epochs is not None:
        cfg.trainer.max_epochs = int(max_epochs)
    cfg.resolve()
    tc = cfg.trainer
    every = tc.checkpoint_every_n_steps
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"trainer.checkpoint_every_n_steps must be an integer >= 0 (0: epoch ends only), got {every!r}")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoints"
    ckpt_path = _resume_checkpoint(cfg, ckpt_dir)
    rank_zero = _is_rank_zero()
    if ckpt_path is None and rank_zero:
        # a fresh run in a used folder keeps the earlier run (Lightning would otherwise version
        # the new files, last-v1.ckpt, and last.ckpt would still be the old network)
        _move_previous_run(out, cfg)
    L.seed_everything(tc.seed, workers=True, verbose=False)

    targets = build_targets(cfg, out)
    cond = bool(cfg.model.conditioning)
    conf = cfg.to_dict()
    dm = SRDataModule(conf, targets, conditioned=cond)
    dm.setup("fit")
    norm = dm.norm
    assert norm is not None
    s0 = dm.scenes_train[0]
    # inference: the observed field (pairs: the fine target grid; target scale: the coarse input)
    from sr import mode_spec

    infer_res = mode_spec(cfg.mode).recipe.inference_res_m(s0)
    pcond = targets.conditioning(cfg.data.factor, infer_res / cfg.data.factor) if cond else None
    module = SRModule(
        conf,
        norm.to_dict(),
        cond_dim=targets.cond_dim if cond else 0,
        predict_cond=None if pcond is None else [float(v) for v in pcond],
        inference_res_m=float(infer_res),
        cond_names=targets.conditioning_names() if cond else None,
    )
    if rank_zero:
        (out / "config.json").write_text(json.dumps(conf, indent=2))
        (out / "normalisation.json").write_text(json.dumps(norm.to_dict(), indent=2))

    has_val = dm.val_ds is not None
    last_name = ModelCheckpoint.CHECKPOINT_NAME_LAST
    callbacks: list[Any] = [
        DivergenceGuard(ckpt_dir / f"{last_name}.ckpt"),
        # the best by the monitored loss, and last.ckpt, at every epoch end
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best-{epoch:03d}",
            monitor="val/loss" if has_val else "train/loss",
            mode="min",
            save_top_k=1,
            save_last=True,
            enable_version_counter=False,
        ),
        LearningRateMonitor(logging_interval="epoch"),
    ]
    if every:
        # last.ckpt every `every` optimiser steps too (same file: no versioned copies)
        callbacks.append(
            ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=every, save_top_k=0, save_last=True,
                            enable_version_counter=False)
        )
    loggers = [CSVLogger(out / "logs", name="csv"), TensorBoardLogger(out / "logs", name="tensorboard")]
    trainer = L.Trainer(
        accelerator=tc.accelerator,
        devices=tc.devices,
        strategy=tc.strategy,
        num_nodes=tc.num_nodes,
        precision=_precision(tc.precision),
        max_epochs=tc.max_epochs,
        max_steps=tc.max_steps,
        deterministic=tc.deterministic,
        gradient_clip_val=tc.gradient_clip_val,
        log_every_n_steps=tc.log_every_n_steps,
        limit_train_batches=tc.limit_train_batches,
        limit_val_batches=tc.limit_val_batches if has_val else 0,
        check_val_every_n_epoch=tc.check_val_every_n_epoch,
        enable_progress_bar=tc.enable_progress_bar,
        enable_model_summary=False,
        callbacks=callbacks,
        logger=loggers,
        default_root_dir=out,
        plugins=[SafeCheckpointIO()],
    )
    if ckpt_path is not None:
        log.info("resuming from %s", ckpt_path)
        if rank_zero:  # temporary files of a checkpoint write that a kill interrupted
            for tmp in ckpt_dir.glob(".*.ckpt.*.tmp"):
                tmp.unlink(missing_ok=True)
    trainer.fit(module, datamodule=dm, ckpt_path=None if ckpt_path is None else str(ckpt_path), weights_only=True)
    last = Path(callbacks[1].last_model_path or ckpt_dir / f"{last_name}.ckpt")
    if trainer.is_global_zero:
        for name in ("config.json", "normalisation.json"):
            (ckpt_dir / name).write_text((out / name).read_text())
        log.info("training done: %s", last)
    return last
