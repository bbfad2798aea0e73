"""Production runs: 250 m LST for every granule of a region and a season, as files and a cube.

``scalelaws produce`` (:func:`produce`) turns a folder (or globs) of MODIS LST granules into
one super-resolved GeoTIFF (COG) per granule and one CF-compliant NetCDF cube ``(time, y, x)``:

1. **Granules** (:func:`list_granules`): MOD11A1 / MYD11A1 / MOD21A1D / MOD21A1N, HDF4-EOS or
   GeoTIFF crops, dated by the ``A<YYYY><DDD>`` of their name; day and/or night.
2. **NDVI guide** (:func:`match_ndvi`), for guided models: either one static NDVI file, or a
   folder of MOD13Q1 / MOD13A2 / MOD09GQ products matched per granule by a stated rule: among
   the products whose footprint covers the granule, the one whose compositing period
   (16 days for MOD13, 1 day for MOD09GQ, from the date in the name) contains the date, the
   latest-starting one when several do; otherwise the one whose period centre is nearest the
   date, if within ``max_days``; otherwise the granule is skipped and listed.
3. **Clear sky**: the product's QC policy masks pixels (``qc``); a granule with less than
   ``min_clear`` of its pixels left is skipped and listed.
4. **Scale-out** with dask.distributed: one task per granule, the model loaded once per
   worker process (:func:`_worker_model`), a ``LocalCluster`` by default or an existing
   scheduler by address; ``scheduler="none"`` runs serially in this process.
5. **Resumable**: every output is written atomically (:mod:`scalelaws.io.atomic`) and each
   granule's JSON record is written last, after its GeoTIFF: a rerun skips granules that have
   a record, an interrupted run leaves no half-written file. The run's settings (model file
   hash, QC, rule, tiling) are stored in ``produce.json``; a rerun with different settings
   into the same folder is refused.
6. **Cube** (:func:`assemble_cube`): the per-granule files stacked on one grid (the union of the
   granules' grids, or a user-chosen CRS and resolution), with the input 1 km LST beside the
   250 m one on the native grid, the calibrated uncertainty when asked for, and provenance
   (model name, card and hash; input file and NDVI used per date). Written slice by slice.

Each granule goes through the same functions as ``scalelaws predict`` (the readers,
:func:`sr.predict.predict_dataarray` and :func:`sr.predict.write_prediction`), so a granule's
file equals the per-file prediction.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.errors import InputError

__all__ = [
    "Granule",
    "NdviProduct",
    "ProduceSettings",
    "list_granules",
    "list_ndvi",
    "match_ndvi",
    "produce_granule",
    "produce",
    "assemble_cube",
    "NDVI_PERIOD_DAYS",
]

log = logging.getLogger(__name__)

#: Compositing period (days) of the NDVI products, from the start date in their name.
NDVI_PERIOD_DAYS = {"09GQ": 1, "09GA": 1, "13Q1": 16, "13A1": 16, "13A2": 16, "13A3": 30}
#: LST products a production run reads (MODIS names; ``A<YYYY><DDD>`` gives the date).
LST_PRODUCTS = ("11A1", "21A1D", "21A1N")
#: Raster suffixes looked at when a folder is given.
RASTER_SUFFIXES = (".hdf", ".tif", ".tiff", ".nc")
#: Version of the per-granule record and ``produce.json`` layout.
RECORD_VERSION = 1


# ------------------------------------------------------------------------------ inputs
def _modis_name(name: str) -> tuple[str, str, date] | None:
    """``(platform, product, date)`` from a MODIS file name, e.g. ('MOD', '11A1', 2020-01-01)."""
    m = re.match(r"^(M[OY]D)(\w+?)\.A(\d{4})(\d{3})\.", name, re.I)
    if not m:
        return None
    day = date(int(m[3]), 1, 1) + timedelta(days=int(m[4]) - 1)
    return m[1].upper(), m[2].upper(), day


def _expand(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named by ``inputs``: files, folders (searched recursively) or glob patterns."""
    out: list[Path] = []
    for item in inputs:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in RASTER_SUFFIXES)
        elif p.is_file():
            out.append(p)
        elif glob.has_magic(s):
            hits = sorted(Path(h) for h in glob.glob(s, recursive=True) if Path(h).is_file())
            if not hits:
                raise InputError(f"no file matches the pattern {s!r}", s)
            out += hits
        else:
            raise InputError("no such file or folder", s)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Granule:
    """One LST granule and overpass to super-resolve.

    Attributes
    ----------
    path
        The file (HDF4-EOS granule or GeoTIFF crop).
    date
        Acquisition date (from ``A<YYYY><DDD>`` in the name).
    product
        E.g. ``"MOD11A1"``.
    which
        ``"day"`` or ``"night"``.

    """

    path: Path
    date: date
    product: str
    which: str

    @property
    def key(self) -> str:
        """A file-name-safe identifier, unique per file and overpass."""
        stem = self.path.name
        for suffix in (".tif", ".tiff", ".nc"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        return f"{stem}.{self.which}"


def list_granules(
    inputs: Iterable[str | os.PathLike], which: Sequence[str] = ("day",)
) -> tuple[list[Granule], list[tuple[Path, str]]]:
    """Find the LST granules among files, folders and glob patterns.

    Parameters
    ----------
    inputs
        Files, folders (searched recursively for .hdf/.tif/.tiff/.nc) or glob patterns.
    which
        Overpasses to produce: ``("day",)``, ``("night",)`` or both. MOD21A1D/N hold one each.

    Returns
    -------
    (granules, ignored)
        Granules sorted by date, overpass and file; files that are not MODIS LST products with
        the reason.

    """
    for w in which:
        if w not in ("day", "night"):
            raise InputError(f"which must be day and/or night, got {w!r}")
    granules: list[Granule] = []
    ignored: list[tuple[Path, str]] = []
    for f in _expand(inputs):
        parsed = _modis_name(f.name) or _hdf_identity(f)
        if parsed is None or parsed[1] not in LST_PRODUCTS:
            ignored.append((f, "not a MODIS LST product name (MOD11A1/MYD11A1/MOD21A1D/N.AYYYYDDD...)"))
            continue
        plat, prod, day = parsed
        for w in which:
            if prod.endswith("D") and w == "night" or prod.endswith("N") and w == "day":
                continue
            granules.append(Granule(f, day, plat + prod, w))
    granules.sort(key=lambda g: (g.date, g.which, str(g.path)))
    return granules, ignored


def _hdf_identity(path: Path) -> tuple[str, str, date] | None:
    """``(platform, product, date)`` of an HDF4-EOS granule whose name does not carry them.

    Read from its core metadata (``LOCALGRANULEID``, ``SHORTNAME``, ``RANGEBEGINNINGDATE``).
    """
    from scalelaws.io.modis import _Hdf4, _is_hdf4

    if path.suffix.lower() != ".hdf" or not _is_hdf4(path):
        return None
    try:
        with _Hdf4(path) as h:
            product, day = h.product_and_date()
    except InputError:
        return None
    if not product or not day:
        return None
    m = re.match(r"^(M[OY]D)(\w+)$", product, re.I)
    return (m[1].upper(), m[2].upper(), date.fromisoformat(day[:10])) if m else None


def _footprint(path: Path) -> tuple[Any, tuple[float, float, float, float], float]:
    """``(crs, bounds, pixel size)`` of a raster without reading its values (HDF4: from the tile in the name)."""
    import rasterio

    from scalelaws.io._common import MODIS_SINUSOIDAL_PROJ4
    from scalelaws.io.modis import _is_hdf4, modis_tile_transform

    if _is_hdf4(path):
        from scalelaws.io.modis import _Hdf4

        m = re.search(r"\.h(\d{2})v(\d{2})\.", path.name)
        if not m:
            with _Hdf4(path) as h:
                m = re.search(r"h(\d{2})v(\d{2})", h.tile() or "")
        if not m:
            raise InputError("HDF4 granule without an hHHvVV tile in its name or metadata", path)
        t = modis_tile_transform(int(m[1]), int(m[2]), 1200)
        x0, y1 = t * (0, 0)
        x1, y0 = t * (1200, 1200)
        return rasterio.crs.CRS.from_proj4(MODIS_SINUSOIDAL_PROJ4), (x0, y0, x1, y1), abs(t.a)
    try:
        with rasterio.open(path) as src:
            return src.crs, tuple(src.bounds), abs(src.res[0])
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"not a raster GDAL can open ({exc})", path) from exc


@dataclass(frozen=True)
class NdviProduct:
    """An NDVI file that may guide granules.

    Attributes
    ----------
    path
        The file.
    start
        First day of its compositing period (``None`` for a static NDVI).
    period_days
        Length of the period (:data:`NDVI_PERIOD_DAYS`).
    crs, bounds
        Footprint.

    """

    path: Path
    start: date | None
    period_days: int
    crs: Any = field(compare=False)
    bounds: tuple[float, float, float, float]

    @property
    def centre(self) -> date | None:
        """Middle day of the compositing period (``None`` for a static NDVI)."""
        if self.start is None:
            return None
        return self.start + timedelta(days=(self.period_days - 1) / 2)

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls inside the compositing period."""
        return self.start is not None and self.start <= day < self.start + timedelta(days=self.period_days)


def list_ndvi(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[NdviProduct]:
    """List the NDVI products under folders/globs (dated by their MODIS name), or one static file.

    A single file whose name is not a dated MODIS NDVI product is a static guide used for every
    date. Files in a folder that are not MODIS NDVI products are ignored (logged).
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files = _expand(items)
    single = len(items) == 1 and Path(str(items[0])).is_file()
    out: list[NdviProduct] = []
    for f in files:
        parsed = _modis_name(f.name)
        if parsed is not None and parsed[1] in NDVI_PERIOD_DAYS:
            crs, b, _ = _footprint(f)
            out.append(NdviProduct(f, parsed[2], NDVI_PERIOD_DAYS[parsed[1]], crs, b))
        elif single:
            crs, b, _ = _footprint(f)
            out.append(NdviProduct(f, None, 0, crs, b))
        else:
            log.debug("%s: not a dated MODIS NDVI product (MOD13Q1/MOD13A2/MOD09GQ), ignored", f)
    if not out:
        raise InputError("no NDVI product found (MOD13Q1/MOD13A2/MOD09GQ names, or one NDVI file)",
                         str(items[0]) if len(items) == 1 else None)
    return out


def match_ndvi(
    day: date,
    lst_crs: Any,
    lst_bounds: tuple[float, float, float, float],
    candidates: Sequence[NdviProduct],
    *,
    max_days: float = 16.0,
    tol: float = 0.0,
) -> tuple[NdviProduct | None, str]:
    """Choose the NDVI that guides an LST of date ``day`` and footprint ``lst_bounds``.

    The rule: among the candidates whose footprint covers the LST (within ``tol``),
    a static NDVI if there is one; else those whose compositing period contains ``day``, the
    latest-starting first; else the one whose period centre is nearest ``day`` (ties: the
    earlier), if at most ``max_days`` away.

    Returns
    -------
    (product, rule)
        The product (``None`` when none qualifies) and a sentence saying which branch of the
        rule chose it, or why none did.

    """
    from sr.predict import covers

    over = [c for c in candidates if covers(c.bounds, c.crs, lst_bounds, lst_crs, tol)]
    if not over:
        return None, "no NDVI product covers the granule's footprint"
    static = [c for c in over if c.start is None]
    if static:
        return static[0], "static NDVI"
    inside = [c for c in over if c.contains(day)]
    if inside:
        best = max(inside, key=lambda c: (c.start, str(c.path)))
        return best, f"composite of {best.start} ({best.period_days} days) contains the date"
    gaps = sorted(over, key=lambda c: (abs((c.centre - day).days), c.start, str(c.path)))
    best = gaps[0]
    gap = abs((best.centre - day).days)
    if gap > max_days:
        return None, f"nearest NDVI composite is {gap} days away (> {max_days:g})"
    return best, f"nearest composite: period centre {best.centre} is {gap} days away"


# ------------------------------------------------------------------------------ settings
@dataclass
class ProduceSettings:
    """What a production run does; stored in ``produce.json`` (a rerun must match).

    Attributes
    ----------
    model
        Model file (``.pt``) or checkpoint.
    model_sha256
        Its hash (filled by :func:`produce`).
    guided
        Whether the model takes an NDVI guide.
    which
        Overpasses.
    qc
        MODIS QC policy (``"good"`` or ``"any"``).
    min_clear
        Smallest fraction of kept pixels for a granule to be produced.
    ndvi_max_days
        Largest distance (days) from the date to the nearest NDVI period centre.
    uncertainty
        Also write the calibrated uncertainty (:func:`sr.predict.spread_model`).
    tile, overlap, batch_size
        Tiled inference (:func:`sr.predict.predict_array`).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``...
    threads
        torch threads per task.

    """

    model: str
    model_sha256: str = ""
    guided: bool = False
    which: tuple[str, ...] = ("day",)
    qc: str = "good"
    min_clear: float = 0.2
    ndvi_max_days: float = 16.0
    uncertainty: bool = False
    tile: int = 64
    overlap: int = 8
    batch_size: int = 8
    device: str = "auto"
    threads: int = 1

    def fingerprint(self) -> dict[str, Any]:
        """Return the settings that change the numbers (device and threads do not)."""
        d = asdict(self)
        for k in ("model", "device", "threads", "batch_size"):
            d.pop(k)
        d["which"] = list(d["which"])
        return d


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------------------ one granule
_MODELS: dict[tuple[str, str], Any] = {}


def _worker_model(path: str, device: str) -> Any:
    """Return the model, loaded once per process (each dask worker process keeps its own)."""
    key = (path, device)
    if key not in _MODELS:
        from sr.modelfile import load_sr_model

        log.info("loading %s on %s", path, device)
        _MODELS[key] = load_sr_model(path, map_location=device)
    return _MODELS[key]


def record_path(out_dir: Path, g: Granule) -> Path:
    """Return the path of a granule's JSON record (written last: its presence marks the granule as done)."""
    return out_dir / "granules" / f"{g.key}.json"


def tif_path(out_dir: Path, g: Granule) -> Path:
    """Return the path of the per-granule 250 m GeoTIFF."""
    return out_dir / "granules" / f"{g.key}.250m.tif"


def open_granule(g: Granule, qc: str) -> xr.DataArray:
    """Open the granule's LST (K) with the run's QC policy (the reader ``scalelaws predict`` uses)."""
    from scalelaws.io import open_lst

    return open_lst(g.path, which=g.which, qc=qc)


def produce_granule(
    g: Granule,
    ndvi: NdviProduct | None,
    ndvi_rule: str,
    out_dir: str | os.PathLike,
    settings: ProduceSettings,
) -> dict[str, Any]:
    """Super-resolve one granule and write its GeoTIFF, then its JSON record.

    Runs on a dask worker (or in the calling process). Never raises for a bad granule: the
    record says ``"failed"`` with the problem (and is not written, so that a rerun retries it),
    or ``"skipped"`` with the reason (written: the decision is deterministic).

    Returns
    -------
    dict
        The record: ``key, input, date, which, status, reason, ndvi, ndvi_rule, output,
        clear_fraction, seconds, rss_mib`` (resident memory of the process after the granule).

    """
    from scalelaws.errors import AllNaNError
    from scalelaws.io.atomic import atomic_write_text

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    rec: dict[str, Any] = {
        "version": RECORD_VERSION, "key": g.key, "input": str(g.path), "date": g.date.isoformat(),
        "product": g.product, "which": g.which, "status": "done", "reason": "",
        "ndvi": str(ndvi.path) if ndvi is not None else None, "ndvi_rule": ndvi_rule,
        "output": None, "clear_fraction": None, "seconds": None, "rss_mib": None,
    }
    try:
        try:
            lst = open_granule(g, settings.qc)
        except AllNaNError:
            rec.update(status="skipped", reason="no clear pixel", clear_fraction=0.0)
            lst = None
        if lst is not None:
            clear = float(np.isfinite(lst.values).mean())
            rec["clear_fraction"] = round(clear, 4)
            if clear < settings.min_clear:
                rec.update(status="skipped", reason=f"{clear:.0%} clear pixels (< {settings.min_clear:.0%})")
            elif settings.guided and ndvi is None:
                rec.update(status="skipped", reason=f"no NDVI: {ndvi_rule}")
        if rec["status"] == "done":
            _predict_granule(g, lst, ndvi, out_dir, settings)
            rec["output"] = str(tif_path(out_dir, g).relative_to(out_dir))
    except Exception as exc:  # one bad granule must not stop a season: listed, retried on rerun
        if not isinstance(exc, InputError):
            log.debug("granule %s failed", g.path, exc_info=True)
        rec.update(status="failed", reason=str(exc) if isinstance(exc, InputError)
                   else f"{g.path}: unexpected {type(exc).__name__}: {exc}")
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        return rec
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    rec["rss_mib"], rec["pid"] = _rss_mib(), os.getpid()
    atomic_write_text(record_path(out_dir, g), json.dumps(rec, indent=1))
    return rec


def _rss_mib() -> float | None:
    """Resident memory of this process (MiB) after a granule, for the records; None without psutil."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        return None
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _predict_granule(g: Granule, lst: xr.DataArray, ndvi: NdviProduct | None, out_dir: Path,
                     settings: ProduceSettings) -> None:
    from scalelaws.io import open_ndvi
    from sr.predict import check_guide_covers, predict_dataarray, write_prediction

    nd = None
    if settings.guided and ndvi is not None:
        nd = open_ndvi(ndvi.path)
        check_guide_covers(nd, lst, ndvi.path, g.path)
    device = _resolve_device(settings.device)
    module = _worker_model(settings.model, device)
    res = predict_dataarray(module, lst, nd, return_std=settings.uncertainty, tile=settings.tile,
                            overlap=settings.overlap, batch_size=settings.batch_size,
                            device=device, threads=settings.threads)
    da, std = res if settings.uncertainty else (res, None)
    da.attrs.update(source=str(g.path), time=g.date.isoformat(), which=g.which,
                    ndvi_source=str(ndvi.path) if nd is not None else "")
    write_prediction(da, tif_path(out_dir, g), std=std)


# ------------------------------------------------------------------------------ the run
def _check_run_folder(out_dir: Path, settings: ProduceSettings, overwrite: bool) -> None:
    """Write ``produce.json``, or check that the folder's earlier run had the same settings."""
    from scalelaws.io.atomic import atomic_write_text

    meta = out_dir / "produce.json"
    fp = settings.fingerprint()
    if meta.is_file() and not overwrite:
        try:
            old = json.loads(meta.read_text()).get("settings", {})
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the run's settings ({exc}); use another folder or --overwrite",
                             meta) from exc
        diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
        if diff:
            raise InputError(
                "this folder holds a run with other settings ("
                + ", ".join(f"{k}: {old.get(k)!r} -> {fp.get(k)!r}" for k in diff)
                + "); resume with the same settings, use another --output, or --overwrite", meta)
    elif overwrite and (out_dir / "granules").is_dir():
        for f in (out_dir / "granules").glob("*.json"):
            f.unlink()
    atomic_write_text(meta, json.dumps({"version": RECORD_VERSION, "settings": fp,
                                        "model": settings.model}, indent=1))


def _client(scheduler: str | None, workers: int, threads: int, memory_limit: str | None):
    """Start a dask.distributed client: an existing scheduler by address, or a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=memory_limit or "auto",
                           silence_logs=logging.WARNING)
    return Client(cluster), cluster


def produce(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    settings: ProduceSettings,
    *,
    ndvi: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    scheduler: str | None = None,
    workers: int = 1,
    memory_limit: str | None = None,
    cube: bool = True,
    cube_crs: str | None = None,
    cube_resolution: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Produce 250 m LST for every granule of ``inputs``; see the module docstring.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns of MODIS LST granules.
    out_dir
        Output folder: ``granules/<key>.250m.tif`` and ``.json``, ``produce.json``,
        ``summary.json`` and the cube ``lst_250m.nc``.
    settings
        The run's settings (:class:`ProduceSettings`).
    ndvi
        A static NDVI file, or folders/globs of dated NDVI products (guided models only).
    scheduler
        ``None``: a new ``LocalCluster`` of ``workers`` processes; ``"none"``: serially in this
        process; else the address of a running dask scheduler.
    workers, memory_limit
        Size of the LocalCluster (processes, one thread each; torch gets ``settings.threads``).
    cube
        Also assemble the time-stacked NetCDF cube.
    cube_crs, cube_resolution
        The cube's grid: default the union of the granules' native grids.
    overwrite
        Start afresh in a folder that holds another run (its records are deleted; files stay
        until rewritten).
    progress
        Show a progress bar (stderr).

    Returns
    -------
    dict
        The summary (also written to ``summary.json``): counts, per-granule records, the cube path.

    """
    from tqdm import tqdm

    from scalelaws.io.atomic import atomic_write_text

    out = Path(out_dir)
    granules, ignored = list_granules(inputs, settings.which)
    for f, why in ignored:
        log.warning("%s: %s; ignored", f, why)
    if not granules:
        raise InputError("no MODIS LST granule among the inputs", str(inputs[0]) if inputs else None)
    model_path = Path(settings.model)
    settings.model_sha256 = _sha256(model_path)
    if settings.guided and ndvi is None:
        raise InputError("the model is guided: give --ndvi (a static NDVI file or a folder of "
                         "MOD13Q1/MOD13A2/MOD09GQ products)", model_path)
    ndvis = list_ndvi(ndvi) if (ndvi is not None and settings.guided) else []
    (out / "granules").mkdir(parents=True, exist_ok=True)
    _check_run_folder(out, settings, overwrite)

    todo: list[tuple[Granule, NdviProduct | None, str]] = []
    records: dict[str, dict[str, Any]] = {}
    for g in granules:
        rp = record_path(out, g)
        if rp.is_file():
            try:
                rec = json.loads(rp.read_text())
            except (OSError, json.JSONDecodeError):
                rec = None
            if rec and (rec.get("status") != "done" or tif_path(out, g).is_file()):
                records[g.key] = rec
                continue
        nd, rule = (None, "single-image model")
        if settings.guided:
            from sr.predict import GUIDE_MARGIN_PX

            crs, bounds, res = _footprint(g.path)
            nd, rule = match_ndvi(g.date, crs, bounds, ndvis, max_days=settings.ndvi_max_days,
                                  tol=GUIDE_MARGIN_PX * res)
        todo.append((g, nd, rule))
    log.info("%d granule(s): %d already done, %d to produce", len(granules), len(records), len(todo))

    if todo:
        bar = tqdm(total=len(todo), desc="granules", unit="granule", disable=not progress or None)
        if scheduler == "none":
            for g, nd, rule in todo:
                rec = produce_granule(g, nd, rule, out, settings)
                records[g.key] = rec
                bar.update()
        else:
            from distributed import as_completed

            client, cluster = _client(scheduler, workers, settings.threads, memory_limit)
            try:
                futs = [client.submit(produce_granule, g, nd, rule, str(out), settings,
                                      key=f"produce-{g.key}", pure=False) for g, nd, rule in todo]
                for fut in as_completed(futs):
                    rec = fut.result()
                    records[rec["key"]] = rec
                    bar.update()
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        bar.close()

    ordered = [records[g.key] for g in granules if g.key in records]
    done = [r for r in ordered if r["status"] == "done"]
    summary: dict[str, Any] = {
        "granules": len(granules), "done": len(done),
        "skipped": [{"input": r["input"], "which": r["which"], "reason": r["reason"]}
                    for r in ordered if r["status"] == "skipped"],
        "failed": [{"input": r["input"], "which": r["which"], "reason": r["reason"]}
                   for r in ordered if r["status"] == "failed"],
        "ignored": [{"input": str(f), "reason": why} for f, why in ignored],
        "cube": None,
    }
    if cube and done:
        summary["cube"] = str(assemble_cube(out, [r for r in done], settings,
                                            crs=cube_crs, resolution=cube_resolution))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    return summary


# ------------------------------------------------------------------------------ the cube
def _native_union(prints: Sequence[tuple[Any, tuple[float, ...], float]], sources: Sequence[str]) -> xr.DataArray:
    """Build an empty coarse grid covering every granule's footprint ``(crs, bounds, pixel size)``.

    The granules must share CRS, pixel size and alignment (as MODIS sinusoidal tiles and their
    crops do); read from the files' headers, not their values.
    """
    from affine import Affine

    from scalelaws.io._common import grid_dataarray

    crs, b0, res = prints[0]
    for (c, b, r), src in zip(prints[1:], sources[1:], strict=True):
        off = ((b[0] - b0[0]) / res, (b[3] - b0[3]) / res)
        if c != crs or abs(r - res) > 1e-6 * res or any(abs(o - round(o)) > 1e-3 for o in off):
            raise InputError("granules on different grids: give the cube a grid (--cube-crs and "
                             "--cube-resolution)", src)
    b = np.array([p[1] for p in prints])
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    nx, ny = round((x1 - x0) / res), round((y1 - y0) / res)
    return grid_dataarray(np.full((ny, nx), np.nan, np.float32), Affine(res, 0.0, x0, 0.0, -res, y1), crs)


def _place(da: xr.DataArray, template: xr.DataArray) -> np.ndarray:
    """``da``'s values on ``template``'s grid (:func:`scalelaws.grids.place_on_grid`, nearest)."""
    from scalelaws.grids import place_on_grid

    return np.asarray(place_on_grid(da, template, resampling="nearest", dtype=np.float32).values)


def _slice(paths: Sequence[str], band: int, template: xr.DataArray) -> np.ndarray:
    """Mosaic of one band of several rasters on ``template`` (first valid value wins)."""
    import rioxarray

    acc = np.full(template.shape, np.nan, np.float32)
    for p in paths:
        with rioxarray.open_rasterio(p, masked=True) as src:
            da = src.sel(band=band).load()
        v = _place(da, template)
        np.copyto(acc, v, where=np.isnan(acc))
    return acc[None]


def _slice_1km(inputs: Sequence[tuple[str, str, str]], qc: str, template: xr.DataArray) -> np.ndarray:
    acc = np.full(template.shape, np.nan, np.float32)
    for path, which, product in inputs:
        g = Granule(Path(path), date.min, product, which)  # the date plays no part in reading
        v = _place(open_granule(g, qc), template)
        np.copyto(acc, v, where=np.isnan(acc))
    return acc[None]


def assemble_cube(
    out_dir: str | os.PathLike,
    records: Sequence[dict[str, Any]],
    settings: ProduceSettings,
    *,
    crs: str | None = None,
    resolution: float | None = None,
    path: str | os.PathLike | None = None,
) -> Path:
    """Stack the granules' 250 m files into one CF NetCDF cube ``lst_250m.nc``.

    Variables per overpass ``w`` (``day`` / ``night``): ``lst_w`` ``(time, y, x)`` at 250 m,
    ``lst_w_std`` (the calibrated uncertainty, when produced), ``lst_w_1km``
    ``(time, y_1km, x_1km)`` the input LST after QC (native grid only), ``input_file_w`` and
    ``ndvi_file_w`` ``(time,)``. Granules of the same date and overpass are mosaicked (first
    valid value wins). Written slice by slice through dask (memory: a few slices).

    Parameters
    ----------
    out_dir
        The run's folder.
    records
        The ``done`` records of :func:`produce_granule`.
    settings
        The run's settings (model, QC).
    crs, resolution
        A user-chosen grid (CRS and pixel size in its units); default the union of the native
        grids.
    path
        Output file (default ``out_dir / "lst_250m.nc"``).

    """
    import dask
    import dask.array as dsa

    from scalelaws.grids import refine_like
    from scalelaws.io.atomic import atomic_path

    out_dir = Path(out_dir)
    path = Path(path) if path is not None else out_dir / "lst_250m.nc"
    meta = _model_meta(settings.model)
    factor = int(meta.get("factor", 4))
    recs = sorted(records, key=lambda r: (r["date"], r["which"], r["input"]))
    inputs = list(dict.fromkeys(r["input"] for r in recs))
    prints = [_footprint(Path(i)) for i in inputs]
    if crs is None:
        coarse = _native_union(prints, inputs)
        fine = refine_like(coarse, factor)
    else:
        if resolution is None or resolution <= 0:
            raise InputError("--cube-crs needs a positive --cube-resolution (in the CRS's units)")
        coarse = None
        fine = _chosen_grid(prints, crs, resolution)
    times = sorted({r["date"] for r in recs})
    ds = xr.Dataset(coords={
        "time": ("time", np.array(times, dtype="datetime64[ns]"),
                 {"standard_name": "time", "long_name": "acquisition date"}),
        "y": ("y", fine["y"].values, {"standard_name": "projection_y_coordinate", "units": "m"}),
        "x": ("x", fine["x"].values, {"standard_name": "projection_x_coordinate", "units": "m"}),
    })
    if coarse is not None:
        ds = ds.assign_coords(
            y_1km=("y_1km", coarse["y"].values, {"standard_name": "projection_y_coordinate", "units": "m",
                                                 "long_name": "y of the input grid"}),
            x_1km=("x_1km", coarse["x"].values, {"standard_name": "projection_x_coordinate", "units": "m",
                                                 "long_name": "x of the input grid"}))
    ny, nx = fine.shape
    for w in settings.which:
        rw = [r for r in recs if r["which"] == w]
        if not rw:
            continue
        by_t: dict[str, list[dict[str, Any]]] = {}
        for r in rw:
            by_t.setdefault(r["date"], []).append(r)
        bands = [("", 1)] + ([("_std", 2)] if settings.uncertainty else [])
        for suffix, band in bands:
            blocks = []
            for t in times:
                files = [str(out_dir / r["output"]) for r in by_t.get(t, [])]
                blocks.append(dsa.from_delayed(dask.delayed(_slice)(files, band, fine), (1, ny, nx),
                                               dtype=np.float32))
            ds[f"lst_{w}{suffix}"] = (("time", "y", "x"), dsa.concatenate(blocks), {
                "units": "K",
                **({"standard_name": "surface_temperature",
                    "long_name": f"{w}time land surface temperature, super-resolved"} if not suffix else
                   {"long_name": f"{w}time LST standard uncertainty (the model's calibrated floor, ensemble "
                                 "spread and local-gradient terms)"}),
            })
        if coarse is not None:
            cy, cx = coarse.shape
            blocks = [dsa.from_delayed(dask.delayed(_slice_1km)(
                [(r["input"], r["which"], r["product"]) for r in by_t.get(t, [])], settings.qc, coarse),
                (1, cy, cx), dtype=np.float32) for t in times]
            ds[f"lst_{w}_1km"] = (("time", "y_1km", "x_1km"), dsa.concatenate(blocks), {
                "units": "K", "standard_name": "surface_temperature",
                "long_name": f"{w}time land surface temperature, input (after QC {settings.qc!r})"})
        ds[f"input_file_{w}"] = ("time", [";".join(r["input"] for r in by_t.get(t, [])) for t in times],
                                 {"long_name": f"{w}time LST granule(s) of each date"})
        ds[f"ndvi_file_{w}"] = ("time", [";".join(r["ndvi"] or "" for r in by_t.get(t, [])) for t in times],
                                {"long_name": "NDVI guide used for each date (empty: single-image model)"})
        ds[f"ndvi_rule_{w}"] = ("time", [";".join(r["ndvi_rule"] for r in by_t.get(t, [])) for t in times],
                                {"long_name": "rule that chose the NDVI guide"})
    ds = ds.rio.write_crs(fine.rio.crs)
    ds.attrs.update({
        "Conventions": "CF-1.8",
        "title": "super-resolved land surface temperature",
        "source": "scalelaws produce",
        "history": f"{datetime.now().isoformat(timespec='seconds')} scalelaws produce",
        "model": (meta.get("card") or {}).get("name") or Path(settings.model).name,
        "model_file": str(settings.model),
        "model_sha256": settings.model_sha256,
        "model_card": json.dumps(meta.get("card") or {}),
        "sr_factor": factor,
        "qc_policy": settings.qc,
        "min_clear_fraction": settings.min_clear,
        "ndvi_rule": ("static NDVI, or the composite whose period contains the date (latest start), "
                      f"else the nearest period centre within {settings.ndvi_max_days:g} days"),
    })
    # one slice per HDF5 chunk; the grid mapping of every field (rioxarray reads it back with
    # ``xr.open_dataset(..., decode_coords="all")``)
    enc = {v: {"dtype": "float32", "zlib": True, "complevel": 4, "chunksizes": (1,) + ds[v].shape[1:],
               "grid_mapping": "spatial_ref"}
           for v in ds.data_vars if ds[v].ndim == 3}
    with atomic_path(path) as tmp, dask.config.set(scheduler="threads", num_workers=1):
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=enc)
    log.info("cube: %s (%d dates)", path, len(times))
    return path


def _chosen_grid(prints: Sequence[tuple[Any, tuple[float, ...], float]], crs: str,
                 resolution: float) -> xr.DataArray:
    """Build an empty grid in ``crs`` at ``resolution`` covering every footprint ``(crs, bounds, res)``."""
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    from scalelaws.io._common import grid_dataarray

    try:
        dst = CRS.from_user_input(crs)
    except Exception as exc:  # rasterio raises CRSError
        raise InputError(f"--cube-crs {crs!r} is not a CRS ({exc})") from exc
    b = np.array([transform_bounds(c, dst, *bounds) for c, bounds, _ in prints])
    x0 = np.floor(b[:, 0].min() / resolution) * resolution
    y0 = np.floor(b[:, 1].min() / resolution) * resolution
    x1 = np.ceil(b[:, 2].max() / resolution) * resolution
    y1 = np.ceil(b[:, 3].max() / resolution) * resolution
    nx, ny = round((x1 - x0) / resolution), round((y1 - y0) / resolution)
    return grid_dataarray(np.full((ny, nx), np.nan, np.float32),
                          Affine(resolution, 0.0, x0, 0.0, -resolution, y1), dst)


def _model_meta(path: str) -> dict[str, Any]:
    """Read the model file's metadata (name, factor, card, guided) without building the network."""
    from sr.modelfile import read_model_file

    meta, _ = read_model_file(path)
    return meta


def model_is_guided(path: str | os.PathLike) -> bool:
    """Whether a model file takes an NDVI guide."""
    from sr import mode_spec

    meta = _model_meta(str(path))
    return bool(mode_spec(meta["config"]["mode"]).guided)
