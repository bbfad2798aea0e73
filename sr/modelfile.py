"""The scalelaws-sr model file: one safe, self-describing file per trained model (or ensemble).

Format (version 1)
------------------
ONE ``.pt`` file written by :func:`torch.save` of a plain dict::

    {
        "format": "scalelaws-sr",
        "version": 1,
        "meta": "<JSON string>",
        "members": [state_dict, ...],
    }

``members``
    One or more networks (an ensemble when several) of the same architecture. Each
    ``state_dict`` maps parameter and buffer names to tensors: the network only (the ``net.``
    part of :class:`sr.module.SRModule`, with the ``net.`` prefix removed, i.e. the keys of
    ``sr.models.build_model(...).state_dict()``), no optimiser, no loss buffers.
``meta`` (a JSON object, stored as a string so that nothing but tensors, strings, numbers,
lists and dicts is in the file)
    ``config``
        The resolved training configuration (:meth:`sr.train.SRConfig.to_dict`); the network is
        ``build_model(config["model"]["name"], factor=factor, cond_dim=cond_dim,
        **config["model"]["options"])``.
    ``norm``
        Normalisation (:meth:`sr.data.Normalisation.to_dict`): ``lst_mean``, ``lst_std``,
        ``ndvi_mean``, ``ndvi_std``.
    ``cond_dim``, ``predict_cond``, ``cond_names``
        Length, inference value and names of the conditioning vector (0, ``None``, ``None``
        for unconditioned models).
    ``inference_res_m``
        Pixel size (m) of the inputs the model is meant for.
    ``factor``, ``mode``
        Upsampling factor and training mode (copies of ``config`` entries).
    ``card``
        Free-form dict filled by whoever ships the model: description, training data, metrics,
        licence...
    ``postprocess`` (optional)
        Applied to the mosaic by :func:`sr.predict.predict_dataarray`:
        ``gaussian_sigma_px`` (the output smoothing chosen by the nested selection);
        ``std_floor``, ``std_scale``, ``std_grad_scale`` (the calibration of the uncertainty
        band, :func:`sr.predict.spread_model`; defaults 0, 1, 0: the bare ensemble spread);
        ``realisation`` (law file and ``kappa`` of ``--realisations``).
    ``members_info``
        Per member: the source checkpoint's file name, ``epoch``, ``global_step`` and
        ``seed``.
    ``created``, ``scalelaws_version``
        UTC ISO time of the export and the exporting package version.

Safety
------
Every file is read with ``torch.load(path, weights_only=True)`` only: torch's restricted
unpickler accepts tensors and plain containers and refuses any other Python object, so a model
file (or a Lightning checkpoint) from an untrusted source cannot run code when loaded. A
file that is corrupt, truncated, foreign, or that contains other objects is refused with
:class:`ModelFileError` ``"<file>: not a scalelaws SR model: <what is wrong>"``.

:func:`load_sr_model` reads a model file or a Lightning checkpoint written by
``scalelaws train`` and returns an :class:`SRInferenceModel`; :func:`export_model` turns one or
several checkpoints into a model file (``scalelaws export-model``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from scalelaws.errors import InputError

__all__ = [
    "FORMAT",
    "VERSION",
    "ModelFileError",
    "SRInferenceModel",
    "export_model",
    "load_sr_model",
    "read_model_file",
    "safe_torch_load",
    "atomic_torch_save",
]

log = logging.getLogger(__name__)

#: The ``format`` entry of a model file.
FORMAT = "scalelaws-sr"
#: The newest model-file version this package reads and the one it writes.
VERSION = 1

#: Meta entries every model file carries.
_REQUIRED_META = ("config", "norm", "cond_dim", "predict_cond", "inference_res_m", "cond_names", "factor", "mode")
#: Hyper-parameters of :class:`sr.module.SRModule` (stored in its Lightning checkpoints).
_HPARAM_KEYS = ("config", "norm", "cond_dim", "predict_cond", "inference_res_m", "cond_names")
#: Meta entries that must agree between the members of one model file.
_SAME_ACROSS_MEMBERS = ("cond_dim", "predict_cond", "inference_res_m", "cond_names", "norm")


class ModelFileError(InputError):
    """A file is not a (readable, safe) scalelaws SR model."""

    def __init__(self, problem: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(f"not a scalelaws SR model: {problem}", path)


# ------------------------------------------------------------------------------------------------
# safe reading and atomic writing of torch files
# ------------------------------------------------------------------------------------------------


def _unpickling_problem(exc: BaseException) -> str:
    """Say briefly why a ``weights_only`` load was refused (not torch's advice to disable it)."""
    msg = str(exc)
    m = re.search(r"(?:Unsupported global|GLOBAL)[:\s]+(?:GLOBAL\s+)?([\w.]+)", msg)
    if m:
        return (f"it contains a pickled Python object ({m.group(1)}), not only tensors and plain "
                "containers; refused, since loading it could run code")
    m = re.search(r"Unsupported operand (\d+)|Unsupported class", msg)
    if m:
        return "it contains pickled Python objects other than tensors and plain containers; refused"
    first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
    first = re.sub(r"^Weights only load failed\.?\s*", "", first)
    return f"it cannot be read safely ({first[:200] or 'restricted unpickler refused it'})"


def safe_torch_load(path: str | Path, *, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with every failure turned into :class:`ModelFileError`.

    Parameters
    ----------
    path
        A file written by :func:`torch.save`.
    map_location
        Passed to :func:`torch.load`.

    Raises
    ------
    ModelFileError
        The file is missing, empty, truncated, not a torch file, or contains Python objects
        other than tensors and plain containers (which are never unpickled).

    """
    path = Path(path)
    if not path.is_file():
        raise InputError("model file not found", path)
    if path.stat().st_size == 0:
        raise ModelFileError("the file is empty", path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(_unpickling_problem(exc), path) from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"the file is truncated or corrupt ({type(exc).__name__})", path) from None
    except Exception as exc:  # noqa: BLE001 - whatever torch.load raises, the file is not a model
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in text or "Weights only" in text:
            raise ModelFileError(_unpickling_problem(exc), path) from None
        if "zip archive" in text or "central directory" in text or "magic number" in text:
            raise ModelFileError("not a torch file, or a truncated one", path) from None
        raise ModelFileError(f"the file cannot be read ({text[:200]})", path) from None


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """:func:`torch.save` to a temporary file in the target folder, then rename over ``path``.

    An interrupted write never leaves a truncated ``path`` nor destroys the previous file.
    """
    from scalelaws.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return path


# ------------------------------------------------------------------------------------------------
# the inference object
# ------------------------------------------------------------------------------------------------


class SRInferenceModel(nn.Module):
    """A trained super-resolution network (or ensemble) ready for inference, in eval mode.

    Exposes what :mod:`sr.predict` needs, like :class:`sr.module.SRModule` does: ``net``,
    ``norm``, ``factor``, ``cond_dim`` and ``hparams`` (``config``, ``norm``, ``cond_dim``,
    ``predict_cond``, ``inference_res_m``, ``cond_names``).

    Parameters
    ----------
    members
        The networks (``sr.models.SRModel``), first one = :attr:`net`.
    meta
        The model-file metadata (see the module docstring).

    Attributes
    ----------
    net
        The first member.
    members
        All members (:class:`torch.nn.ModuleList`).
    norm
        :class:`sr.data.Normalisation`.
    factor, cond_dim
        Upsampling factor and conditioning length.
    hparams
        ``config``, ``norm``, ``cond_dim``, ``predict_cond``, ``inference_res_m``,
        ``cond_names`` (the interface of ``SRModule.hparams``).
    config, mode, card, meta
        Resolved training configuration, training mode, model card and the whole metadata.

    """

    def __init__(self, members: Sequence[nn.Module], meta: dict[str, Any]) -> None:
        from sr.data import Normalisation

        super().__init__()
        if not members:
            raise ValueError("a model needs at least one member")
        self.members = nn.ModuleList(members)
        self.meta = dict(meta)
        self.config: dict[str, Any] = meta["config"]
        self.mode: str = str(meta["mode"])
        self.factor = int(meta["factor"])
        self.cond_dim = int(meta["cond_dim"])
        self.norm = Normalisation.from_dict(meta["norm"])
        self.card: dict[str, Any] = dict(meta.get("card") or {})
        self.postprocess: dict[str, Any] = dict(meta.get("postprocess") or {})
        self.hparams: dict[str, Any] = {k: meta[k] for k in _HPARAM_KEYS}
        self.eval()

    @property
    def net(self) -> nn.Module:
        """The first member."""
        return self.members[0]

    def forward(self, lr: Tensor, guide: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        """Mean of the members' outputs on normalised inputs (see ``sr.models.SRModel``)."""
        outs = [m(lr, guide=guide, cond=cond) for m in self.members]
        return outs[0] if len(outs) == 1 else torch.stack(outs).mean(dim=0)


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------


def _json_clean(v: Any) -> Any:
    """Plain JSON-able values (tuples -> lists, numpy / torch scalars -> Python numbers)."""
    if isinstance(v, dict):
        return {str(k): _json_clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_clean(x) for x in v]
    if isinstance(v, Tensor):
        return _json_clean(v.tolist())
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def _check_state_dict(sd: Any, what: str, path: Path) -> dict[str, Tensor]:
    if not isinstance(sd, dict) or not sd:
        raise ModelFileError(f"{what} is not a non-empty dict of tensors", path)
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise ModelFileError(f"{what} holds entries that are not named tensors: {bad[:3]}", path)
    return dict(sd)


def _check_meta(meta: Any, path: Path) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ModelFileError("its meta is not a JSON object", path)
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise ModelFileError(f"its meta lacks {missing}", path)
    cfg = meta["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or "name" not in cfg["model"]:
        raise ModelFileError("its meta config has no model section with a name", path)
    norm = meta["norm"]
    keys = ("lst_mean", "lst_std", "ndvi_mean", "ndvi_std")
    if not isinstance(norm, dict) or any(not isinstance(norm.get(k), (int, float)) for k in keys):
        raise ModelFileError(f"its meta norm must hold the numbers {list(keys)}", path)
    if not (isinstance(meta["factor"], int) and meta["factor"] >= 1):
        raise ModelFileError(f"its meta factor must be a positive integer, got {meta['factor']!r}", path)
    if not (isinstance(meta["cond_dim"], int) and meta["cond_dim"] >= 0):
        raise ModelFileError(f"its meta cond_dim must be an integer >= 0, got {meta['cond_dim']!r}", path)
    return meta


def _from_lightning(ckpt: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Tensor], dict[str, Any]]:
    """(meta without card, net state_dict, member info) of a Lightning checkpoint of SRModule."""
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or any(k not in hp for k in ("config", "norm")):
        raise ModelFileError(
            "a Lightning checkpoint without the hyper-parameters of sr.module.SRModule (config, norm)", path
        )
    sd = _check_state_dict(ckpt.get("state_dict"), "its state_dict", path)
    net = {k[len("net."):]: v for k, v in sd.items() if k.startswith("net.")}
    if not net:
        raise ModelFileError("its state_dict has no network weights (no 'net.' entries)", path)
    cfg = _json_clean(hp["config"])
    if not isinstance(cfg, dict) or "data" not in cfg or "mode" not in cfg:
        raise ModelFileError("its hyper-parameter 'config' is not a scalelaws training configuration", path)
    meta = {k: _json_clean(hp.get(k)) for k in _HPARAM_KEYS}
    meta["cond_dim"] = int(meta["cond_dim"] or 0)
    meta["factor"] = int(cfg["data"]["factor"])
    meta["mode"] = cfg["mode"]
    info = {
        "source": path.name,
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "seed": cfg.get("trainer", {}).get("seed"),
    }
    return meta, net, info


def read_model_file(path: str | Path, *, map_location: Any = "cpu") -> tuple[dict[str, Any], list[dict[str, Tensor]]]:
    """Read and validate a model file or a Lightning checkpoint, safely: ``(meta, members)``.

    Parameters
    ----------
    path
        A scalelaws-sr model file (``.pt``) or a Lightning checkpoint (``.ckpt``) written by
        ``scalelaws train``.
    map_location
        Where the tensors go (:func:`torch.load`).

    Returns
    -------
    meta : dict
        The metadata (see the module docstring; ``card`` is ``{}`` for a checkpoint).
    members : list of dict
        Network state dicts (names without the ``net.`` prefix).

    Raises
    ------
    ModelFileError
        Anything wrong with the file, named.

    """
    path = Path(path)
    obj = safe_torch_load(path, map_location=map_location)
    if not isinstance(obj, dict):
        raise ModelFileError(f"it holds a {type(obj).__name__}, not a dict", path)
    if "format" in obj:
        if obj["format"] != FORMAT:
            raise ModelFileError(f"its format is {obj['format']!r}, not {FORMAT!r}", path)
        version = obj.get("version")
        if not isinstance(version, int) or version < 1:
            raise ModelFileError(f"its version is {version!r}, not a positive integer", path)
        if version > VERSION:
            raise ModelFileError(
                f"model-file version {version} is newer than this scalelaws reads ({VERSION}); upgrade scalelaws",
                path,
            )
        if not isinstance(obj.get("meta"), str):
            raise ModelFileError("its meta is not a JSON string", path)
        try:
            meta = json.loads(obj["meta"])
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"its meta is not valid JSON ({exc})", path) from None
        meta = _check_meta(meta, path)
        raw = obj.get("members")
        if not isinstance(raw, list) or not raw:
            raise ModelFileError("it has no members (a non-empty list of state dicts)", path)
        members = [_check_state_dict(sd, f"member {i}", path) for i, sd in enumerate(raw)]
        return meta, members
    if "state_dict" in obj and "pytorch-lightning_version" in obj:
        meta, net, info = _from_lightning(obj, path)
        meta.update(card={}, members_info=[info])
        return _check_meta(meta, path), [net]
    keys = sorted(str(k) for k in obj)[:8]
    raise ModelFileError(
        f"a dict with keys {keys}: neither a {FORMAT} model file nor a Lightning checkpoint of sr.module.SRModule",
        path,
    )


def _build_member(meta: dict[str, Any], sd: dict[str, Tensor], i: int, path: Path) -> nn.Module:
    from sr.models import build_model

    mc = meta["config"]["model"]
    try:
        net = build_model(mc["name"], factor=int(meta["factor"]), cond_dim=int(meta["cond_dim"]),
                          **(mc.get("options") or {}))
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"its metadata describes no buildable network ({exc})", path) from None
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        text = " ".join(str(exc).split())
        raise ModelFileError(
            f"the weights of member {i} do not fit the network its metadata describes ({text[:300]})", path
        ) from None
    return net


def load_sr_model(path: str | Path, *, map_location: Any = "cpu") -> SRInferenceModel:
    """Load a trained model for inference, safely (``weights_only=True``), in eval mode.

    Parameters
    ----------
    path
        A scalelaws-sr model file (:func:`export_model`) or a Lightning checkpoint written
        by ``scalelaws train``. Nothing but tensors and plain containers is unpickled.
    map_location
        Device of the weights (``"cpu"``, ``"cuda"``, ...).

    Returns
    -------
    SRInferenceModel
        ``net`` (first member), ``members``, ``norm``, ``factor``, ``cond_dim``, ``hparams``,
        ``card``.

    Raises
    ------
    ModelFileError
        ``"<file>: not a scalelaws SR model: <what is wrong>"`` for a corrupt, foreign or
        unsafe file (an :class:`~scalelaws.errors.InputError`).

    """
    path = Path(path)
    meta, members = read_model_file(path, map_location=map_location)
    nets = [_build_member(meta, sd, i, path) for i, sd in enumerate(members)]
    model = SRInferenceModel(nets, meta)
    model.source = path  # files the model refers to (e.g. its realisation law) sit beside it
    dev = next(iter(members[0].values())).device
    return model.to(dev).eval()


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equality of JSON values with a relative tolerance of 1e-9 on numbers."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _architecture(meta: dict[str, Any]) -> dict[str, Any]:
    cfg = meta["config"]
    return {"mode": cfg["mode"], "factor": meta["factor"], "model": cfg["model"],
            "method": cfg["data"].get("method"), "mtf_nyquist": cfg["data"].get("mtf_nyquist")}


def export_model(
    checkpoints: Sequence[str | Path] | str | Path,
    out: str | Path,
    *,
    card: dict[str, Any] | None = None,
    postprocess: dict[str, Any] | None = None,
) -> Path:
    """Write a scalelaws-sr model file from one or several training checkpoints.

    Parameters
    ----------
    checkpoints
        Lightning checkpoints (``scalelaws train``) or model files of the same architecture,
        normalisation and inference conditioning (several = an ensemble, e.g. seeds); each is
        read with ``weights_only=True``. Members of model files are all taken.
    out
        The model file to write (atomically; ``.pt`` by convention).
    card
        Free-form, JSON-serialisable description stored as ``meta["card"]``; default: the
        first input's card, or ``{}``.
    postprocess
        What :func:`sr.predict.predict_dataarray` applies to the mosaic, stored as
        ``meta["postprocess"]``: ``{"gaussian_sigma_px": s}`` (the output smoothing chosen by
        :mod:`analysis.selection`); default: the first input's, or none.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InputError
        An input is not a model, the inputs disagree, ``card`` is not JSON-serialisable, or
        ``out`` would overwrite an input.

    """
    import scalelaws

    paths = [Path(checkpoints)] if isinstance(checkpoints, (str, Path)) else [Path(p) for p in checkpoints]
    if not paths:
        raise InputError("export-model needs at least one checkpoint")
    out = Path(out)
    for p in paths:
        if p.exists() and out.exists() and out.resolve() == p.resolve():
            raise InputError("the output would overwrite an input checkpoint", out)
    first: dict[str, Any] | None = None
    members: list[dict[str, Tensor]] = []
    infos: list[dict[str, Any]] = []
    for p in paths:
        meta, sds = read_model_file(p, map_location="cpu")
        if first is None:
            first = meta
        else:
            for key in _SAME_ACROSS_MEMBERS:
                if not _same(meta[key], first[key]):
                    raise InputError(
                        f"its {key} differs from that of {paths[0].name}: the members of a model must share "
                        "architecture, normalisation and conditioning", p,
                    )
            if not _same(_architecture(meta), _architecture(first)):
                raise InputError(f"its mode, factor or model differ from those of {paths[0].name}", p)
        members += [{k: v.detach().to("cpu").clone().contiguous() for k, v in sd.items()} for sd in sds]
        infos += meta.get("members_info") or [{"source": p.name}]
    assert first is not None
    meta = {k: first[k] for k in _REQUIRED_META}
    meta["card"] = dict(card) if card is not None else dict(first.get("card") or {})
    meta["postprocess"] = (dict(postprocess) if postprocess is not None
                           else dict(first.get("postprocess") or {}))
    meta["members_info"] = infos
    meta["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta["scalelaws_version"] = scalelaws.__version__
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the model card is not JSON-serialisable ({exc})") from None
    atomic_torch_save({"format": FORMAT, "version": VERSION, "meta": text, "members": members}, out)
    log.info("model file %s: %d member(s) of %s", out, len(members), meta["config"]["model"]["name"])
    return out


def update_postprocess(path: str | Path, postprocess: dict[str, Any]) -> Path:
    """Rewrite a model file's ``meta["postprocess"]`` in place (atomically); weights and card unchanged.

    Used by the maintainers' scripts that choose the output smoothing or attach a realisation
    law after the networks were trained (``docs/make_*.py``).
    """
    path = Path(path)
    meta, members = read_model_file(path, map_location="cpu")
    if not members or "config" not in meta:
        raise ModelFileError("not a model file with members", path)
    meta = dict(meta)
    meta["postprocess"] = dict(postprocess)
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the post-processing is not JSON-serialisable ({exc})") from None
    atomic_torch_save({"format": FORMAT, "version": VERSION, "meta": text, "members": members}, path)
    return path
