"""The ``scalelaws benchmark sensors`` run: read, fit, compare, write."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import xarray as xr

from analysis.sensors.compare import REFERENCE, LawEntry, _entry_from_field, compare_laws
from analysis.sensors.fields import control_fields, load_fields
from analysis.sensors.fits import fit_aster_law, fit_field_law, realisation_spread
from analysis.sensors.readers import SensorField
from analysis.sensors.tables import markdown_table, to_csv
from scalelaws.errors import InputError, ScaleRangeError

log = logging.getLogger(__name__)


def _add_aster(entries: list[LawEntry], excluded: dict[str, str], root: Path, n_boot: int, seed: int,
               pairs: Sequence[int] | None, t0: float) -> None:
    """Fit the ASTER reference law into ``entries`` (or record it in ``excluded`` when absent)."""
    if not (root / "modis_aster" / "pairs").is_dir():
        excluded[REFERENCE] = f"absent (modis_aster/pairs not under {root})"
        return
    law = fit_aster_law(root, n_boot=n_boot, seed=seed, pairs=pairs)
    entries.append(LawEntry(REFERENCE, law, {
        "platform": "Terra ASTER (MODIS-ASTER pairs)", "quantity": "LST",
        "region": "tile h18v04, Western/Central Europe", "date": "40 scenes",
        "class_source": "NDVI (MODIS 250 m)", "thermal_pixel_m": 231.65,
        "note": "the reference law of docs/laws.md"}))
    log.info("ASTER law: %d scenes (%.1f s)", law.ds.attrs.get("n_scenes", 0), time.perf_counter() - t0)


def _fit_fields(entries: list[LawEntry], excluded: dict[str, str], fields: Sequence[SensorField],
                n_boot: int, seed: int, n_surrogates: int, t0: float) -> dict[str, xr.DataArray]:
    """Fit one law per field into ``entries``; return the surrogate spread of each."""
    spread: dict[str, xr.DataArray] = {}
    for f in fields:
        try:
            law = fit_field_law(f, n_boot=n_boot, seed=seed)
        except ScaleRangeError as exc:
            excluded[f.key] = f"no law: {exc.problem}"
            continue
        entries.append(_entry_from_field(f, law))
        if n_surrogates >= 2:
            spread[f.key] = realisation_spread(f.lst, law, classes=None if f.classes is None else [f.classes],
                                               n=n_surrogates, seed=seed)
        log.info("%s: law fitted (%.1f s)", f.key, time.perf_counter() - t0)
    return spread


def _write(ds: xr.Dataset, out: Path, excluded: dict[str, str]) -> None:
    """Write ``sensors.nc``, ``sensors.csv`` and ``sensors.md`` (with the excluded fields) to ``out``."""
    ds.to_netcdf(out / "sensors.nc", engine="h5netcdf")
    to_csv(ds, out / "sensors.csv")
    md = markdown_table(ds)
    if excluded:
        md += "\nExcluded: " + "; ".join(f"{k} ({v})" for k, v in excluded.items()) + "\n"
    (out / "sensors.md").write_text(md)


def run_sensors(
    out: str | Path,
    *,
    root: str | Path | None = None,
    keys: Sequence[str] | None = None,
    aster: bool = True,
    aster_pairs: Sequence[int] | None = None,
    controls: bool = True,
    n_surrogates: int = 20,
    n_boot: int = 200,
    seed: int = 0,
    command: str = "",
) -> xr.Dataset:
    """Read the fields, fit the laws, compare them with the ASTER law and write the results.

    Writes ``OUT/sensors.nc`` (the Dataset of :func:`~analysis.sensors.compare.compare_laws`), ``OUT/sensors.csv`` and
    ``OUT/sensors.md`` (the :func:`~analysis.sensors.tables.markdown_table`, with the excluded fields).

    Parameters
    ----------
    out
        Output folder.
    root
        Data root (default :func:`scalelaws.config.data_dir`).
    keys
        Subset of :data:`~analysis.sensors.readers.FIELD_LOADERS`.
    aster
        Fit the ASTER reference law (needs ``modis_aster/pairs`` under ``root``).
    aster_pairs
        Pair ids of the ASTER law (default all).
    controls
        Add the degraded copies of :data:`~analysis.sensors.fields.CONTROLS` (when their base field is read).
    n_surrogates
        fBm surrogates per single-field law for :func:`~analysis.sensors.fits.realisation_spread` (0: bootstrap
        intervals only).
    n_boot, seed
        Bootstrap replicates and seed of every law.
    command
        The command line recorded in ``history``.

    Returns
    -------
    xarray.Dataset

    """
    from scalelaws.config import data_dir

    t0 = time.perf_counter()
    root = Path(root) if root is not None else data_dir()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fields, excluded = load_fields(root, keys)
    if controls:
        fields += control_fields(fields)
    entries: list[LawEntry] = []
    if aster:
        _add_aster(entries, excluded, root, n_boot, seed, aster_pairs, t0)
    spread = _fit_fields(entries, excluded, fields, n_boot, seed, n_surrogates, t0)
    if not entries:
        raise InputError(f"no field to fit under {root}: {excluded}")
    ds = compare_laws(entries, reference=REFERENCE if aster and entries[0].key == REFERENCE else None,
                      spread=spread)
    ds.attrs.update(
        source=str(root), n_boot_requested=n_boot, seed=seed, n_surrogates=int(n_surrogates),
        excluded="; ".join(f"{k}: {v}" for k, v in excluded.items()) or "none",
        history=f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {command or 'analysis.sensors.run_sensors'}",
        wall_time_s=round(time.perf_counter() - t0, 1),
    )
    _write(ds, out, excluded)
    return ds
