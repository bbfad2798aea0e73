"""Core sub-commands of the ``scalelaws`` CLI (statistics and laws; no torch).

* ``scalelaws synth``: generate (and optionally save) the synthetic landscapes and summarise
  their documented scaling truths.
* ``scalelaws exponents PATH...``: scaling exponents with intervals, per file or per landscape.
* ``scalelaws laws fit|show``: correction laws (see :mod:`scalelaws.laws_cli`).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

log = logging.getLogger(__name__)


# ------------------------------------------------------------------- options shared by commands
UnitsOpt = Annotated[str | None, typer.Option(
    "--units", help="Units of generic rasters that declare none: K (kelvin), 1 (NDVI), or degC "
                    "(Celsius, converted to kelvin).")]
ScaleOpt = Annotated[float | None, typer.Option(
    "--scale", help="Generic rasters: physical = stored x SCALE + OFFSET (integer rasters without "
                    "a scale_factor, e.g. 0.02 for MODIS LST counts).")]
OffsetOpt = Annotated[float | None, typer.Option("--offset", help="Generic rasters: see --scale.")]
NodataOpt = Annotated[float | None, typer.Option(
    "--nodata", help="Generic rasters: a stored value marking missing pixels (e.g. 0).")]
CrsOpt = Annotated[str | None, typer.Option(
    "--crs", help="Generic rasters without a CRS (or a corrupt one): e.g. EPSG:32631.")]
ChunkOpt = Annotated[int | None, typer.Option(
    "--chunk-size", help="Read generic rasters block by block (dask; for rasters larger than "
                         "memory): strips of N rows/columns, blocks of N x N px. Default: automatic when the "
                         "in-memory path would need more than --memory-limit.")]
MemoryOpt = Annotated[str | None, typer.Option(
    "--memory-limit", help="Memory budget, e.g. 2GiB: sets the automatic chunking and the "
                           "chunk size (default: the memory available, or ulimit -v).")]
NdviScaleOpt = Annotated[float | None, typer.Option(
    "--ndvi-scale", help="Generic NDVI rasters of scaled integers: NDVI = stored x SCALE "
                         "(e.g. 1e-4).")]

#: Largest fraction of missing pixels (cloud, fill) a field may have for scaling statistics.
MAX_MISSING_FRACTION = 0.95


def reader_options(
    units: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    nodata: float | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """Collect the generic-raster options a user gave (``None`` left out) for the readers."""
    opts = {"units": units, "scale": scale, "offset": offset, "nodata": nodata, "crs": crs}
    return {k: v for k, v in opts.items() if v is not None}


def parse_q(text: str, option: str = "--q") -> tuple[float, ...]:
    """Parse a comma-separated list of positive moment orders; :class:`InputError` otherwise."""
    from scalelaws.errors import InputError

    try:
        qs = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{option} expects comma-separated numbers, got {text!r}") from None
    if not qs:
        raise InputError(f"{option} expects at least one moment order, got {text!r}")
    if not all(math.isfinite(v) and v > 0 for v in qs):
        raise InputError(f"{option} expects positive finite moment orders, got {text!r}")
    if len(set(qs)) != len(qs):
        raise InputError(f"{option} lists a moment order twice: {text!r}")
    return qs


def check_scale_range(scale_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """Refuse an inverted, empty or non-positive ``--range MIN_M MAX_M`` before any reading."""
    from scalelaws.errors import ScaleRangeError

    if scale_range is None:
        return None
    lo, hi = (float(v) for v in scale_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ScaleRangeError(
            f"--range {lo:g} {hi:g}: the scale range must be MIN_M MAX_M with 0 < MIN_M < MAX_M "
            "(metres)")
    return lo, hi


def check_field(da: Any, path: str | Path) -> None:
    """Refuse a field that carries no scaling to measure: mostly missing, or constant.

    Raises
    ------
    AllNaNError
        More than :data:`MAX_MISSING_FRACTION` of the pixels are missing (cloud, fill).
    InputError
        Every valid pixel has the same value.

    """
    from scalelaws.errors import AllNaNError, InputError

    values = np.asarray(da.values)
    valid = np.isfinite(values)
    frac = 1.0 - float(valid.mean())
    if frac > MAX_MISSING_FRACTION:
        raise AllNaNError(
            f"{frac:.1%} of the pixels are missing (cloud, fill or QC); at most "
            f"{MAX_MISSING_FRACTION:.0%} may be for scaling statistics", path)
    v = values[valid]
    if float(v.max()) == float(v.min()):
        raise InputError(
            f"the field is constant (every valid pixel is {float(v[0]):g}): there is no "
            "variability, hence no scaling, to measure", path)


def _finite(value: float) -> float | None:
    """Return a JSON-safe float: ``None`` for NaN (JSON has no NaN)."""
    value = float(value)
    return None if math.isnan(value) else value


def _scalar(ds, name: str) -> float | None:
    if name not in ds:
        return None
    value = float(ds[name].values)
    return None if math.isnan(value) else value


def _pair(ds, name: str) -> list[float | None] | None:
    if name not in ds:
        return None
    vals = [float(v) for v in np.asarray(ds[name].values).ravel()]
    return [None if math.isnan(v) else v for v in vals]


def exponents_record(path: str, ds) -> dict:
    """Flatten a :func:`scalelaws.fit.fit_scaling` Dataset into one JSON-ready record."""
    qs = [float(q) for q in ds["q"].values]
    key = [f"{q:g}" for q in qs]
    zeta = {k: _finite(v) for k, v in zip(key, ds["zeta"].values, strict=True)}
    zeta_ci = {
        k: [_finite(lo), _finite(hi)]
        for k, (lo, hi) in zip(key, np.asarray(ds["zeta_ci"].values), strict=True)
    }
    rng = ds.attrs.get("scale_range_m")
    return {
        "file": str(path),
        "H": _scalar(ds, "H"),
        "H_ci": _pair(ds, "H_ci"),
        "zeta": zeta,
        "zeta_ci": zeta_ci,
        "c1": _scalar(ds, "c1"),
        "c1_ci": _pair(ds, "c1_ci"),
        "c2": _scalar(ds, "c2"),
        "c2_ci": _pair(ds, "c2_ci"),
        "beta": _scalar(ds, "beta"),
        "beta_ci": _pair(ds, "beta_ci"),
        "scale_range_m": None if rng is None else [float(v) for v in np.ravel(rng)],
        "break_m": _scalar(ds, "break_m"),
        "break_ci": _pair(ds, "break_ci"),
    }


def same_grid(a: Any, b: Any) -> bool:
    """Tell whether two fields share their grid: same shape, same pixel centres and same CRS."""
    if a.shape != b.shape:
        return False
    if not (np.allclose(a["x"].values, b["x"].values) and np.allclose(a["y"].values, b["y"].values)):
        return False
    ca, cb = a.rio.crs, b.rio.crs
    return ca is None or cb is None or ca == cb


def _classes_on_grid(classes: Any, field: Any) -> Any:
    """Landscape classes placed on the grid of ``field`` (nearest / mode re-projection).

    Unchanged when the grids already match; otherwise :func:`scalelaws.grids.align` with
    ``mode`` resampling (the most frequent class when the classes are finer than the field,
    the nearest one when they are coarser), so class labels are never blended.
    """
    from scalelaws.grids import align, pixel_size
    from scalelaws.landscapes import UNCLASSIFIED

    if same_grid(classes, field):
        return classes
    finer = pixel_size(classes, default=0.0) < pixel_size(field, default=0.0)
    log.info("placing the landscape classes %s onto the field grid %s (%s)", classes.shape,
             field.shape, "mode" if finer else "nearest")
    src = classes.where(classes != UNCLASSIFIED)
    placed = align(src, field, resampling="mode" if finer else "nearest")
    lab = np.where(np.isfinite(placed.values), placed.values, UNCLASSIFIED).astype(np.int16)
    out = placed.copy(data=lab)
    out.attrs = dict(classes.attrs)
    out.name = classes.name
    return out


def _ndvi_classes_on_grid(ndvi: Any, field: Any) -> Any:
    """NDVI classes placed on the grid of ``field``: :func:`_classes_on_grid` of :func:`classify_ndvi`."""
    from scalelaws.landscapes import classify_ndvi

    return _classes_on_grid(classify_ndvi(ndvi), field)


def _exponents_by_landscape_chunked(source: Any, *, landcover: Path | None, ndvi: Path | None,
                                    ndvi_scale: float | None, chunk: int | None,
                                    memory_limit: str | None, **kwargs: Any) -> Any:
    """``exponents --by-landscape`` of a raster read block by block.

    The classes are those of the in-memory path (:func:`_ndvi_classes_on_grid` of the NDVI,
    or the land cover's), placed on each LST window (:class:`scalelaws.stats.chunked.PlacedSource`);
    the structure-function sums per landscape come from
    :func:`scalelaws.stats.chunked.law_scene_sums`. ``c1``, ``c2`` per landscape are not
    computed (NaN): the leaders of a landscape need the field in memory.
    """
    from scalelaws.landscapes import exponents_by_landscape
    from scalelaws.stats import chunked

    be = chunked.ChunkedBackend(source, chunk=chunk, memory=chunked.memory_budget(memory_limit))
    field = be.field(None)  # checks the field block by block; stays lazy
    if landcover is not None:
        classes = chunked.landcover_source(landcover, source)
    else:
        classes = chunked.PlacedSource(chunked.ndvi_window_source(ndvi, ndvi_scale), source,
                                       _ndvi_classes_on_grid, dtype=np.int16)
    log.warning("%s: read block by block: c1, c2 per landscape are not computed (NaN)",
                source.attrs.get("source"))
    hook = chunked.law_scene_sums({0: source}, classes={0: classes}, chunk=chunk,
                                  memory=memory_limit)
    return exponents_by_landscape(field, chunked.lazy_field(classes, 2048, dtype=np.int16),
                                  scene_sums=hook, wavelet=False, **kwargs)


def _report(path: Path, ds: Any, as_json: bool, by_landscape: bool = False) -> None:
    """Print one file's exponents (a line, or JSON records)."""
    if as_json:
        if by_landscape:
            for lc in ds["landscape"].values:
                rec = exponents_record(str(path), ds.sel(file=str(path), landscape=lc))
                rec["landscape"] = str(lc)
                typer.echo(json.dumps(rec))
        else:
            typer.echo(json.dumps(exponents_record(str(path), ds.isel(file=0))))
    elif by_landscape:
        typer.echo(ds.to_dataframe().to_string())
    else:
        rec = exponents_record(str(path), ds.isel(file=0))
        typer.echo(
            f"{path}: H={rec['H']:.3f} zeta={rec['zeta']} c2={rec['c2']} "
            f"beta={rec['beta']} break_m={rec['break_m']}"
        )


def register(app: typer.Typer) -> None:
    """Add the core sub-commands to ``app``."""

    @app.command("synth")
    def synth(
        out: Path | None = typer.Option(None, "-o", "--out", help="Folder for GeoTIFFs."),
        kinds: str = typer.Option("cropland,forest,urban,mixed", help="Landscape kinds."),
        size: int = typer.Option(512, help="Field size in pixels."),
        pixel_size: float = typer.Option(62.5, help="Pixel size in metres."),
        seed: int = typer.Option(0, help="Random seed."),
    ) -> None:
        """Generate the synthetic landscapes and print their documented truths."""
        from scalelaws import synthetic

        for kind in [k.strip() for k in kinds.split(",") if k.strip()]:
            ds = synthetic.landscape(kind, shape=(size, size), pixel_size=pixel_size, seed=seed)
            truth = synthetic.landscape_truth(kind, shape=(size, size), pixel_size=pixel_size)
            typer.echo(
                f"{kind:10s} LST {float(ds.lst.mean()):7.2f} K (sd {float(ds.lst.std()):5.2f}), "
                f"NDVI {float(ds.ndvi.mean()):5.2f} | truth: H {truth.H_fine:.2f} (250-500 m) -> "
                f"{truth.H_coarse:.2f} (4-8 km), break {truth.break_m:.0f} m, LST~NDVI slope "
                f"{truth.lst_ndvi_slope_fine:.1f} K at {pixel_size:g} m -> "
                f"{truth.lst_ndvi_slope_coarse:.1f} K at {pixel_size * truth.factors[-1]:g} m"
            )
            if out is not None:
                from scalelaws.io.atomic import atomic_path, check_output_dir

                check_output_dir(out)
                for var in ("lst", "ndvi"):
                    path = out / f"{kind}_{var}.tif"
                    with atomic_path(path) as tmp:
                        ds[var].rio.to_raster(tmp)
                    typer.echo(f"  wrote {path}")

    @app.command("exponents")
    def exponents(
        paths: list[Path] = typer.Argument(..., help="LST (or NDVI) rasters."),
        q: str = typer.Option("1,2,3,4", "--q", help="Moment orders, comma-separated."),
        scale_range: tuple[float, float] | None = typer.Option(
            None, "--range", help="Fit range MIN_M MAX_M in metres (default: automatic)."
        ),
        n_boot: int = typer.Option(200, help="Block-bootstrap replicates for the intervals."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per file per line."),
        out: Path | None = typer.Option(None, "-o", "--out", help="NetCDF output (.nc)."),
        by_landscape: bool = typer.Option(False, help="Exponents per landscape class."),
        landcover: Path | None = typer.Option(
            None, help="Land-cover raster for --by-landscape (default: NDVI classes)."
        ),
        ndvi: Path | None = typer.Option(
            None, help="NDVI raster for NDVI classes (any grid: the classes are placed on each "
                       "field's grid, nearest / mode)."),
        seed: int = typer.Option(0, help="Bootstrap seed."),
        kind: str = typer.Option("lst", "--kind", help="What the rasters hold: lst or ndvi."),
        units: UnitsOpt = None,
        scale: ScaleOpt = None,
        offset: OffsetOpt = None,
        nodata: NodataOpt = None,
        crs: CrsOpt = None,
        ndvi_scale: NdviScaleOpt = None,
        chunk_size: ChunkOpt = None,
        memory_limit: MemoryOpt = None,
    ) -> None:
        """Scaling exponents (zeta(q), H, c1, c2, beta, break) with bootstrap intervals."""
        import xarray as xr

        from scalelaws.errors import InputError, naming
        from scalelaws.fit import fit_scaling
        from scalelaws.io import open_lst, open_ndvi
        from scalelaws.io.atomic import atomic_path, check_output

        qs = parse_q(q)
        scale_range = check_scale_range(scale_range)
        if kind not in ("lst", "ndvi"):
            raise InputError(f"--kind must be lst or ndvi, got {kind!r}")
        if by_landscape and landcover is None and ndvi is None:
            raise InputError("--by-landscape needs --landcover or --ndvi")
        if out is not None:
            inputs = [*paths, landcover, ndvi]
            check_output(out, inputs)
            if by_landscape:
                check_output(out.with_suffix(".csv"), inputs)
        opener = open_lst if kind == "lst" else open_ndvi
        opts = reader_options(units, scale, offset, nodata, crs)
        if memory_limit is not None:
            from scalelaws.stats.chunked import parse_memory

            parse_memory(memory_limit)
        nd_field = None  # NDVI read whole when a field in memory needs its classes
        results = []
        for path in paths:
            with naming(path):
                from scalelaws.stats.chunked import chunked_source

                source = chunked_source(path, kind=kind, chunk=chunk_size,
                                        memory_limit=memory_limit, calibrated=True, **opts)
                if source is not None:
                    from scalelaws.stats.chunked import fit_scaling_chunked

                    if by_landscape:
                        ds = _exponents_by_landscape_chunked(
                            source, landcover=landcover, ndvi=ndvi, ndvi_scale=ndvi_scale,
                            chunk=chunk_size, memory_limit=memory_limit, q=qs,
                            scale_range=scale_range, n_boot=n_boot, rng=seed)
                    else:
                        ds = fit_scaling_chunked(
                            source, q=qs, chunk=chunk_size, memory=memory_limit,
                            scale_range=scale_range, n_boot=n_boot,
                            rng=np.random.default_rng(seed))
                    ds = ds.expand_dims(file=[str(path)])
                    results.append(ds)
                    _report(path, ds, as_json, by_landscape)
                    continue
                da = opener(path, **opts)
                check_field(da, path)
                if by_landscape:
                    from scalelaws import landscapes

                    if landcover is not None:
                        classes = landscapes.classes_from_landcover(landcover, like=da)
                    else:
                        if nd_field is None:
                            nd_field = open_ndvi(ndvi, scale=ndvi_scale)
                        classes = _classes_on_grid(landscapes.classify_ndvi(nd_field), da)
                    ds = landscapes.exponents_by_landscape(
                        da, classes, q=qs, scale_range=scale_range, n_boot=n_boot, rng=seed
                    )
                else:
                    ds = fit_scaling(
                        da, q=qs, scale_range=scale_range, n_boot=n_boot,
                        rng=np.random.default_rng(seed),
                    )
            ds = ds.expand_dims(file=[str(path)])
            results.append(ds)
            _report(path, ds, as_json, by_landscape)
        if out is not None:
            combined = xr.concat(results, dim="file")
            with atomic_path(out) as tmp:
                combined.to_netcdf(tmp, engine="h5netcdf")
            if by_landscape:
                with atomic_path(out.with_suffix(".csv")) as tmp:
                    combined.to_dataframe().to_csv(tmp)
            log.info("wrote %s", out)

    from scalelaws import laws_cli

    laws_cli.register(app)
