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

import numpy as np
import typer

log = logging.getLogger(__name__)


def _parse_floats(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc


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
                out.mkdir(parents=True, exist_ok=True)
                for var in ("lst", "ndvi"):
                    path = out / f"{kind}_{var}.tif"
                    ds[var].rio.to_raster(path)
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
        ndvi: Path | None = typer.Option(None, help="NDVI raster for NDVI classes."),
        seed: int = typer.Option(0, help="Bootstrap seed."),
    ) -> None:
        """Scaling exponents (zeta(q), H, c1, c2, beta, break) with bootstrap intervals."""
        import xarray as xr

        from scalelaws.errors import InputError
        from scalelaws.fit import fit_scaling
        from scalelaws.io import open_lst

        qs = _parse_floats(q)
        results = []
        for path in paths:
            try:
                da = open_lst(path)
            except InputError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
            if by_landscape:
                from scalelaws import landscapes

                if landcover is not None:
                    classes = landscapes.classes_from_landcover(landcover, like=da)
                elif ndvi is not None:
                    from scalelaws.io import open_ndvi

                    classes = landscapes.classify_ndvi(open_ndvi(ndvi))
                else:
                    raise typer.BadParameter("--by-landscape needs --landcover or --ndvi")
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
            if as_json:
                if by_landscape:
                    for lc in ds["landscape"].values:
                        rec = exponents_record(str(path), ds.sel(file=str(path), landscape=lc))
                        rec["landscape"] = str(lc)
                        typer.echo(json.dumps(rec))
                else:
                    typer.echo(json.dumps(exponents_record(str(path), ds.isel(file=0))))
            else:
                rec = exponents_record(str(path), ds.isel(file=0)) if not by_landscape else None
                if rec is not None:
                    typer.echo(
                        f"{path}: H={rec['H']:.3f} zeta={rec['zeta']} c2={rec['c2']} "
                        f"beta={rec['beta']} break_m={rec['break_m']}"
                    )
                else:
                    typer.echo(ds.to_dataframe().to_string())
        if out is not None:
            combined = xr.concat(results, dim="file")
            out.parent.mkdir(parents=True, exist_ok=True)
            combined.to_netcdf(out, engine="h5netcdf")
            if by_landscape:
                combined.to_dataframe().to_csv(out.with_suffix(".csv"))
            log.info("wrote %s", out)

    from scalelaws import laws_cli

    laws_cli.register(app)
