"""Production throughput: granules per hour of ``scalelaws produce`` on 1 and 2 dask workers.

Baseline: the same granules run serially in the calling process (``scheduler="none"``);
candidates: a ``LocalCluster`` of 1 and of 2 worker processes (one torch thread each). The
model load and the cluster start are inside the timings (they are what a user pays). Memory per
worker: the largest resident set of each process after a granule (the granule records' ``rss_mib``:
model, libraries and what the process keeps; the transient peak inside a granule is higher).

Workloads (the shipped models, the shared data under ``SCALELAWS_DATA``):

* ``crops``: MOD11A1 GeoTIFF crops of 2020 (64 x 64 at 1 km -> 256 x 256), day, the
  single-image default model, no cube (throughput only);
* ``guided``: one window's dated crops with synthetic 250 m MOD13Q1-named NDVI composites (the
  MOD13A2 crops refined x4), the guided default (5-member ensemble) with the spread, and the cube;
* ``tiles``: the whole MOD11A1 HDF4 granule of ``products/`` (1200 x 1200 -> 4800 x 4800) under 4
  dated names, day, the single-image default, ``--min-clear 0.1`` (17 % of it is clear).

Run: ``python -m benchmarks produce`` (``--quick``: 4 crops, no tile).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from scalelaws.config import data_dir

WINDOW = ".hdf.0015.tif"


def _worker_rss(out: Path) -> list[float]:
    """Largest resident memory (MiB) after a granule, per process, from the granule records."""
    per: dict[int, float] = {}
    for f in (out / "granules").glob("*.json"):
        r = json.loads(f.read_text())
        if r.get("rss_mib") is not None:
            per[r["pid"]] = max(per.get(r["pid"], 0.0), r["rss_mib"])
    return sorted(per.values())


def _synthetic_ndvi(nd_dir: Path, out: Path) -> None:
    from scalelaws.grids import refine_like
    from scalelaws.io import open_modis_ndvi

    rng = np.random.default_rng(0)
    for f in sorted(nd_dir.glob(f"*{WINDOW}")):
        nd = open_modis_ndvi(f)
        v = np.kron(np.nan_to_num(nd.values, nan=0.3), np.ones((4, 4))) + rng.normal(0, 0.03, (256, 256))
        fine = refine_like(nd, 4, np.clip(v, -1, 1).astype(np.float32), name="ndvi")
        fine.rio.write_nodata(np.nan, encoded=False, inplace=True)
        fine.rio.to_raster(out / f.name.replace("MOD13A2", "MOD13Q1"))


def _run(inputs, out: Path, settings, *, scheduler, workers=1, ndvi=None, cube=False):
    """Wall time, granules done and per-process memory (MiB) of one produce run into a fresh folder."""
    from sr import produce as P

    shutil.rmtree(out, ignore_errors=True)
    if scheduler == "none":
        t0 = time.perf_counter()
        s = P.produce(inputs, out, settings, ndvi=ndvi, scheduler="none", cube=cube, progress=False)
        dt = time.perf_counter() - t0
    else:
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.WARNING)
        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
            logging.getLogger(name).setLevel(logging.WARNING)
        client = Client(cluster)
        try:
            s = P.produce(inputs, out, settings, ndvi=ndvi, scheduler=cluster.scheduler_address,
                          cube=cube, progress=False)
            dt = time.perf_counter() - t0
        finally:
            client.close()
            cluster.close()
    assert s["done"] > 0 and not s["failed"], s
    return dt, s["done"], _worker_rss(out)


def _compare(label: str, inputs, out: Path, settings, *, ndvi=None, cube=False) -> list[dict]:
    """Serial baseline, then LocalClusters of 1 and 2 workers; print and return the summary rows."""
    base, k, mem = _run(inputs, out, settings, scheduler="none", ndvi=ndvi, cube=cube)
    print(f"{label:<7} serial      : {k} granules in {base:6.1f} s = {3600 * k / base:8.0f} granules/h, "
          f"RSS {max(mem):.0f} MiB")
    rows = []
    for w in (1, 2):
        t, k, mem = _run(inputs, out, settings, scheduler="cluster", workers=w, ndvi=ndvi, cube=cube)
        print(f"{label:<7} {w} worker(s) : {k} granules in {t:6.1f} s = {3600 * k / t:8.0f} granules/h, "
              f"RSS per worker {', '.join(f'{m:.0f}' for m in mem)} MiB")
        rows.append({"name": f"produce {label}, LocalCluster {w} worker(s)", "baseline": "serial in-process",
                     "candidate": f"LocalCluster({w} processes)", "baseline_s": base, "candidate_s": t,
                     "note": f"{3600 * k / t:.0f} granules/h; RSS/worker {max(mem):.0f} MiB"})
    return rows


def main(quick: bool = False) -> list[dict]:
    """Run the workloads; print granules per hour and memory per worker; return summary rows."""
    from sr.produce import ProduceSettings, model_is_guided
    from sr.zoo import resolve_model

    root = data_dir() / "modis_lst_2020"
    lst_dir = root / "MOD_2020_MOD11A1" / "tifs_files" / "1km"
    if not lst_dir.is_dir():
        print(f"skipped: no shared data at {lst_dir}")
        return []
    n = 4 if quick else 48
    print(f"produce benchmark ({'quick' if quick else 'full'}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_produce_"))
    try:
        crops = sorted(lst_dir.glob("*.tif"))[:: max(1, 1591 // n)][:n]
        src = tmp / "crops"
        src.mkdir()
        for f in crops:
            os.symlink(f, src / f.name)
        sisr, _ = resolve_model(None, guided_input=False)
        st = ProduceSettings(model=str(sisr), guided=False, device="cpu", threads=1)
        rows += _compare("crops", [src], tmp / "o", st)
        # guided, with NDVI matching, spread and cube
        nd = tmp / "ndvi"
        nd.mkdir()
        _synthetic_ndvi(root / "MOD_2020_MOD13A2" / "tifs_files" / "1km", nd)
        win = tmp / "window"
        win.mkdir()
        for f in sorted(lst_dir.glob(f"*{WINDOW}"))[: (3 if quick else 9)]:
            os.symlink(f, win / f.name)
        disr, _ = resolve_model(None, guided_input=True)
        sg = ProduceSettings(model=str(disr), guided=model_is_guided(disr), device="cpu", threads=1,
                             uncertainty=True)
        rows += _compare("guided", [win], tmp / "g", sg, ndvi=[nd], cube=True)  # 5 members, spread, cube
        tile = sorted((data_dir() / "products" / "modis_mod11a1_h14v09").glob("MOD11A1*.hdf"))
        if tile and not quick:
            # whole tiles: the same 1200 x 1200 granule under 4 dated names (no cube: throughput)
            tt = tmp / "tile"
            tt.mkdir()
            for d in range(4):
                os.symlink(tile[0], tt / f"MOD11A1.A2019{305 + d}.h14v09.061.hdf")
            st_tile = ProduceSettings(model=str(sisr), guided=False, device="cpu", threads=1, min_clear=0.1)
            rows += _compare("tiles", [tt], tmp / "t", st_tile)
            t, k, mem = _run([tt], tmp / "t", st_tile, scheduler="none", cube=True)
            print(f"tiles   serial+cube : {k} granules + a 4 x 4800 x 4800 cube in {t:6.1f} s")
            # the shipped default (5 members, spread) on one whole tile, a static synthetic 250 m NDVI
            from scalelaws.grids import refine_like
            from scalelaws.io import open_lst

            lst = open_lst(tile[0])
            rng = np.random.default_rng(0)
            from scalelaws.grids import gaussian_smooth

            nd = np.clip(0.5 + 0.3 * gaussian_smooth(rng.standard_normal((4800, 4800)), 8.0) * 8, -1, 1)
            ndvi = refine_like(lst, 4, nd.astype(np.float32), name="ndvi")
            ndvi.attrs = {"units": "1", "long_name": "synthetic NDVI"}
            ndvi.rio.write_nodata(np.nan, encoded=False, inplace=True)
            ndvi.rio.to_raster(tmp / "ndvi_static.tif")
            one = tmp / "tile1"
            one.mkdir()
            os.symlink(tile[0], one / "MOD11A1.A2019305.h14v09.061.hdf")
            sg_tile = ProduceSettings(model=str(disr), guided=True, device="cpu", threads=1, min_clear=0.1,
                                      uncertainty=True)
            t, k, mem = _run([one], tmp / "t1", sg_tile, scheduler="none", ndvi=[tmp / "ndvi_static.tif"])
            print(f"tile    guided      : the shipped default (5 members + spread) on 1 whole tile in {t:6.1f} s "
                  f"({t / 5:.1f} s per member, incl. reading and writing), RSS {max(mem):.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    main()
