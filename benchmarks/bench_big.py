"""Big rasters: ``scalelaws exponents`` on a GeoTIFF larger than the memory it is given.

Opt-in sizes, because the raster is written to disk (``N**2 * 4`` bytes):

* ``SCALELAWS_BIG_SIZE`` (default 8192; ``--quick``: 1024): side ``N`` of the float32 GeoTIFF;
* ``SCALELAWS_BIG_LIMIT`` (default ``1.5GiB``): the memory limit, imposed on the command with
  ``prlimit --as`` (address space, which bounds the resident memory too) and passed as
  ``--memory-limit``;
* ``SCALELAWS_BIG_DIR`` (default: a temporary folder): where the raster is written (its free
  space is checked first).

The field: an exact fBm tile of 2048 x 2048 px (H = 0.4) reflected across its edges to fill
``N x N`` (continuous, so the increments at lags below 2048 px are fBm increments), plus a
missing patch, written block by block (the writer never holds the raster). The command runs once,
niced, under ``/usr/bin/time -v``: wall time and peak resident memory are reported. With
``--quick`` the chunked and in-memory runs of a 1024^2 raster are also compared (ratio row).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TILE = 2048


def write_field(path: Path, n: int, H: float = 0.4, seed: int = 0) -> None:
    """Write the ``n x n`` reflected-fBm GeoTIFF block by block (float32, tiled, 30 m UTM)."""
    import rasterio
    from rasterio.transform import from_origin

    from scalelaws.synthetic import fbm

    base = (300.0 + 2.0 * fbm((TILE, TILE), H, rng=seed)).astype(np.float32)
    period = np.concatenate([base, base[::-1]], axis=0)
    period = np.concatenate([period, period[:, ::-1]], axis=1)  # 2 TILE periodic, continuous
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:32631",
                   transform=from_origin(500000.0, 4600000.0, 30.0, 30.0), tiled=True,
                   blockxsize=512, blockysize=512, nodata=np.nan, BIGTIFF="YES")
    rows = 1024
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(1, units="K")
        for y0 in range(0, n, rows):
            h = min(rows, n - y0)
            yy = (np.arange(y0, y0 + h) % (2 * TILE))[:, None]
            xx = (np.arange(n) % (2 * TILE))[None, :]
            block = period[yy, xx]
            # a "cloud": a missing square near the centre
            c0, c1 = n // 2 - n // 16, n // 2 + n // 16
            r0, r1 = max(c0, y0), min(c1, y0 + h)
            if r0 < r1:
                block[r0 - y0:r1 - y0, c0:c1] = np.nan
            dst.write(block, 1, window=rasterio.windows.Window(0, y0, n, h))


def _limit_bytes(text: str) -> int:
    from scalelaws.stats.chunked import parse_memory

    return parse_memory(text)


def run_exponents(path: Path, limit: str, extra: list[str]) -> dict:
    """Run ``scalelaws exponents`` once under ``prlimit --as`` and ``/usr/bin/time -v``."""
    # glibc: two malloc arenas, and arrays above 1 MiB mapped and unmapped (its dynamic mmap
    # threshold otherwise keeps freed arrays up to 32 MiB in the heap, which an address-space
    # limit counts as used)
    env = dict(os.environ, MALLOC_ARENA_MAX="2", MALLOC_MMAP_THRESHOLD_="1048576")
    cmd = ["nice", "-n", "19", "/usr/bin/time", "-v", "prlimit", f"--as={_limit_bytes(limit)}",
           sys.executable, "-m", "scalelaws", "exponents", str(path), "--json", "--n-boot",
           "100", "--memory-limit", limit, *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    rss = int(m.group(1)) * 1024 if m else -1
    out = {"returncode": res.returncode, "wall_s": wall, "peak_rss_bytes": rss,
           "cmd": " ".join(cmd)}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if lines:
        out["result"] = json.loads(lines[-1])
    if res.returncode != 0:
        out["stderr_tail"] = res.stderr[-2000:]
    return out


def main(quick: bool = False) -> list[dict]:
    """Write the raster, run the command once under the limit, print and return the numbers."""
    from benchmarks import machine_note

    n = 1024 if quick else int(os.environ.get("SCALELAWS_BIG_SIZE", "8192"))
    limit = os.environ.get("SCALELAWS_BIG_LIMIT", "1.5GiB")
    base = Path(os.environ.get("SCALELAWS_BIG_DIR") or tempfile.gettempdir())
    need = n * n * 4 + (1 << 28)
    free = shutil.disk_usage(base).free
    if free < need:
        raise SystemExit(f"{base}: {free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed "
                         "for the raster: set SCALELAWS_BIG_DIR or a smaller SCALELAWS_BIG_SIZE")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        path = Path(tmp) / "big_lst.tif"
        t0 = time.perf_counter()
        write_field(path, n)
        print(f"wrote {path} ({n} x {n} float32, {path.stat().st_size / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"load before: {os.getloadavg()}")
        big = run_exponents(path, limit, [])
        print(f"load after:  {os.getloadavg()}")
        print(json.dumps({k: v for k, v in big.items() if k != "result"}, indent=1))
        if "result" in big:
            r = big["result"]
            print(f"H = {r['H']:.3f} {r['H_ci']}, c1 = {r['c1']}, c2 = {r['c2']}, "
                  f"beta = {r['beta']}")
        print(f"exponents {n}^2 under {limit}: wall {big['wall_s']:.0f} s, peak RSS "
              f"{big['peak_rss_bytes'] / 2**20:.0f} MiB, exit {big['returncode']}; "
              f"{machine_note()}")
        if quick:
            mem = run_exponents(path, "8GiB", [])
            chk = run_exponents(path, "8GiB", ["--chunk-size", "256"])
            rows.append({"name": "exponents 1024^2 chunked vs in memory",
                         "baseline": "in memory", "candidate": "--chunk-size 256",
                         "baseline_s": mem["wall_s"], "candidate_s": chk["wall_s"],
                         "note": f"peak RSS {mem['peak_rss_bytes'] / 2**20:.0f} vs "
                                 f"{chk['peak_rss_bytes'] / 2**20:.0f} MiB"})
    return rows


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
