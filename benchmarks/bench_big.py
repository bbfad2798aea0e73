"""Big rasters: ``scalelaws exponents`` on a GeoTIFF larger than the memory it is given.

Opt-in sizes, because the raster is written to disk (``N**2 * 4`` bytes):

* ``SCALELAWS_BIG_SIZE`` (default 8192; ``--quick``: 1024): side ``N`` of the float32 GeoTIFF;
* ``SCALELAWS_BIG_LIMIT`` (default ``1.5GiB``): the memory limit, imposed on the command with
  ``prlimit --as`` (address space, which bounds the resident memory too) and passed as
  ``--memory-limit``;
* ``SCALELAWS_BIG_DIR`` (default: a temporary folder): where the raster is written (its free
  space is checked first).

The field: lattice ("value") noise summed over octaves with amplitudes ``2**(k H)``, H = 0.4
(:func:`noise_block`): not periodic, any block computed alone, so the writer holds one strip
and never the raster; measured on a 4096^2 copy in memory: H = 0.402, c1 = 0.400, beta = 2.82
(an fBm of H = 0.4 has 2.8). A missing square of ``N / 8`` px lies in the centre. The command
runs once, niced, under ``/usr/bin/time -v``: wall time and peak resident memory are reported.
With ``--quick`` the chunked and in-memory runs of a 1024^2 raster are also compared (ratio
row).
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

import numba
import numpy as np

#: The finest octave has cells of 1 px, the coarsest the raster's side rounded up to a power
#: of two.
AMPLITUDE = 0.02  # K: amplitude of the 1-px octave (octave k: AMPLITUDE * 2**(k H))


@numba.njit(cache=True)
def _lattice_value(i: int, j: int, k: int, seed: int) -> float:
    """Uniform value in [-1, 1) of lattice node ``(i, j)`` of octave ``k`` (splitmix64 hash)."""
    z = (np.uint64(i) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(j) * np.uint64(0xC2B2AE3D27D4EB4F))
    z = z ^ (np.uint64(k) * np.uint64(0x165667B19E3779F9)) ^ np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0


@numba.njit(cache=True)
def _noise_block(y0: int, x0: int, h: int, w: int, H: float, seed: int, kmax: int,
                 amp: float) -> np.ndarray:
    out = np.zeros((h, w))
    for k in range(kmax + 1):
        c = 1 << k
        a = amp * c**H
        i0, j0 = y0 >> k, x0 >> k
        ni, nj = ((y0 + h - 1) >> k) - i0 + 2, ((x0 + w - 1) >> k) - j0 + 2
        lat = np.empty((ni, nj))
        for ii in range(ni):
            for jj in range(nj):
                lat[ii, jj] = _lattice_value(i0 + ii, j0 + jj, k, seed)
        fx = np.empty(w)
        jx = np.empty(w, dtype=np.int64)
        for x in range(w):
            t = ((x0 + x) & (c - 1)) / c
            fx[x] = t * t * t * (t * (t * 6.0 - 15.0) + 10.0)  # quintic fade: C2 across cells
            jx[x] = ((x0 + x) >> k) - j0
        row = np.empty(nj)
        for y in range(h):
            t = ((y0 + y) & (c - 1)) / c
            fy = t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
            iy = ((y0 + y) >> k) - i0
            for jj in range(nj):
                row[jj] = (1.0 - fy) * lat[iy, jj] + fy * lat[iy + 1, jj]
            for x in range(w):
                out[y, x] += a * ((1.0 - fx[x]) * row[jx[x]] + fx[x] * row[jx[x] + 1])
    return out


def noise_block(y0: int, x0: int, h: int, w: int, n: int, H: float = 0.4,
                seed: int = 0) -> np.ndarray:
    """Rows ``[y0, y0+h)``, columns ``[x0, x0+w)`` of the ``n x n`` benchmark field (K, float32).

    A sum over octaves ``k = 0 .. log2(n)`` of lattice ("value") noise with cells of ``2**k``
    px and amplitude ``AMPLITUDE * 2**(k H)``: the lattice values are a hash of the node's
    coordinates, the octave and ``seed``, interpolated with a quintic fade (C2), so any block
    is computed alone and equals the same pixels of any other block (no period, no seam).
    Its structure function grows as ``lag**(2 H)`` between a few px and the coarsest cells
    (the octaves near the lag dominate both sides of the sum), with log-periodic ripples of the
    lattice; measured H and beta: BENCHMARKS.md "Big rasters".
    """
    kmax = max(1, int(np.ceil(np.log2(n))))
    return (300.0 + _noise_block(int(y0), int(x0), int(h), int(w), float(H), int(seed), kmax,
                                 AMPLITUDE)).astype(np.float32)


def write_field(path: Path, n: int, H: float = 0.4, seed: int = 0) -> None:
    """Write the ``n x n`` lattice-noise GeoTIFF strip by strip (float32, tiled, 30 m UTM).

    The writer holds one strip of 512 rows (:func:`noise_block`), never the raster; a missing
    square of ``n / 8`` px (a "cloud") lies in the centre.
    """
    import rasterio
    from rasterio.transform import from_origin

    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:32631",
                   transform=from_origin(500000.0, 4600000.0, 30.0, 30.0), tiled=True,
                   blockxsize=512, blockysize=512, nodata=np.nan, BIGTIFF="YES")
    rows = 512
    c0, c1 = n // 2 - n // 16, n // 2 + n // 16
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(1, units="K")
        for y0 in range(0, n, rows):
            h = min(rows, n - y0)
            block = noise_block(y0, 0, h, n, n, H, seed)
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
