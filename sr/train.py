"""Training configuration and driver.

A configuration is a JSON (``.json``) or TOML (``.toml``) file with the sections of
:class:`SRConfig`; every key has a default, so the smallest config is ``{"mode": "disr"}``.
Example (TOML)::

    mode = "sisr_corrected"          # sisr_invariant | sisr_corrected | disr | disr_corrected
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

:func:`train` writes under ``out_dir``: ``checkpoints/`` (``last.ckpt`` and the best by
``val/loss``; resumable), ``logs/`` (CSV and TensorBoard), ``config.json`` (the resolved
configuration), ``normalisation.json`` and, when a law is used, ``law.nc``. The resolved config,
the normalisation and the inference conditioning are also in the checkpoint's hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
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
]

log = logging.getLogger(__name__)

_DEFAULT_MODEL = {"sisr_invariant": "unet", "sisr_corrected": "unet", "disr": "disr_unet", "disr_corrected": "disr_unet"}


class ConfigError(InputError):
    """The training configuration is invalid."""


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
    batch_size: int = 16
    num_workers: int = 0
    augment: bool = True
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
        from sr.data import CORRECTED_MODES, DISR_MODES, MODES
        from sr.models import MODELS

        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.model.name is None:
            self.model.name = _DEFAULT_MODEL[self.mode]
        if self.model.name not in MODELS:
            raise ConfigError(f"unknown model {self.model.name!r}; registered: {sorted(MODELS)}")
        if self.model.conditioning is None:
            self.model.conditioning = self.mode in CORRECTED_MODES
        if self.loss.w_consistency is None:
            self.loss.w_consistency = 1.0 if self.mode in DISR_MODES else 0.0
        if self.mode in CORRECTED_MODES and not (self.law.path or self.law.fit):
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


def _fit_law(spec: dict[str, Any]) -> Any:
    """Fit a correction law on synthetic landscapes (high-resolution evidence)."""
    import numpy as np

    from scalelaws.laws import CorrectionLaw
    from scalelaws.synthetic import landscape

    kinds = spec.get("kinds", ["cropland", "forest", "urban", "mixed"])
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

    Parameters
    ----------
    config
        A :class:`SRConfig` or the path of a JSON/TOML configuration.
    out_dir
        Overrides ``config.out_dir``.
    max_epochs
        Overrides ``config.trainer.max_epochs``.

    """
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from sr.module import SRDataModule, SRModule

    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    if out_dir is not None:
        cfg.out_dir = str(out_dir)
    if max_epochs is not None:
        cfg.trainer.max_epochs = int(max_epochs)
    cfg.resolve()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tc = cfg.trainer
    L.seed_everything(tc.seed, workers=True, verbose=False)

    targets = build_targets(cfg, out)
    cond = bool(cfg.model.conditioning)
    conf = cfg.to_dict()
    dm = SRDataModule(conf, targets, conditioned=cond)
    dm.setup("fit")
    norm = dm.norm
    assert norm is not None
    s0 = dm.scenes_train[0]
    # inference: the observed field (SISR: the fine target grid; DISR: the coarse input)
    infer_res = s0.hr_res_m if cfg.mode in ("sisr_invariant", "sisr_corrected") else s0.lr_res_m
    pcond = targets.conditioning(cfg.data.factor, infer_res / cfg.data.factor) if cond else None
    module = SRModule(
        conf,
        norm.to_dict(),
        cond_dim=targets.cond_dim if cond else 0,
        predict_cond=None if pcond is None else [float(v) for v in pcond],
        inference_res_m=float(infer_res),
        cond_names=targets.conditioning_names() if cond else None,
    )
    (out / "config.json").write_text(json.dumps(conf, indent=2))
    (out / "normalisation.json").write_text(json.dumps(norm.to_dict(), indent=2))

    ckpt_dir = out / "checkpoints"
    has_val = dm.val_ds is not None
    callbacks = [
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best-{epoch:03d}",
            monitor="val/loss" if has_val else "train/loss",
            mode="min",
            save_top_k=1,
            save_last=True,
        ),
        LearningRateMonitor(logging_interval="epoch"),
    ]
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
    )
    ckpt_path = None
    if tc.resume:
        ckpt_path = str(ckpt_dir / "last.ckpt") if tc.resume is True or tc.resume == "last" else str(tc.resume)
        if not Path(ckpt_path).is_file():
            log.warning("no checkpoint to resume from at %s: starting afresh", ckpt_path)
            ckpt_path = None
    if ckpt_path is None and trainer.is_global_zero:
        # a fresh run in a used folder: Lightning would version the new files (last-v1.ckpt)
        # and `last.ckpt` would still be the old network
        stale = sorted(ckpt_dir.glob("*.ckpt"))
        if stale:
            log.warning("starting afresh: removing %d checkpoint(s) of an earlier run in %s",
                        len(stale), ckpt_dir)
            for f in stale:
                f.unlink()
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    last = Path(callbacks[0].last_model_path or ckpt_dir / "last.ckpt")
    if trainer.is_global_zero:
        for name in ("config.json", "normalisation.json"):
            (ckpt_dir / name).write_text((out / name).read_text())
        log.info("training done: %s", last)
    return last
