"""Throughput of the super-resolution networks on CPU (or the default torch device).

Run::

    python -m benchmarks.bench_sr            # full: 512 x 512 ratio rasters + a whole MODIS tile
    python -m benchmarks.bench_sr --quick    # small sizes, about a minute
    python -m benchmarks sr [--quick]        # through the benchmark runner (summary table)

Training: optimisation steps (forward, losses, backward, Adam) on random 16 x 16 coarse patches
(64 x 64 fine), reported in patches/s, for each registered network with its mode's losses
(pixel loss for SISR; consistency + NDVI texture (+ law loss) for DISR).

Inference: :func:`sr.predict.predict_array` on a whole raster (tiles of 64 coarse pixels,
overlap 8, cosine blending, batches of 16 tiles) against its baseline, the **bare batched
forward pass** of the same network over the same tiles (same tile size and overlap, same batch
size, same threads, ``torch.inference_mode``, channels-last, float32; tiles gathered before the
clock starts, no blending, no NaN handling). The two are interleaved ``repeat`` times and the
medians compared: ``tiled / bare`` is the cost of the tiling, blending and NaN handling
(target: at most 1.5). The full run also times a whole MOD11A1 tile (1200 x 1200 -> 4800 x 4800,
the real granule ``products/modis_mod11a1_h14v09`` of the shared data when it is there, a
synthetic cloud-free field otherwise) for the U-Net and the DISR U-Net (random NDVI guide).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def _module(model: str, mode: str, options: dict, cond: bool = False):
    from sr.module import SRModule
    from sr.train import LawConfig, SRConfig

    cfg = SRConfig(mode=mode)
    cfg.model.name = model
    cfg.model.options = options
    if mode.endswith("corrected"):
        cfg.law = LawConfig(path="unused.nc")
    cfg.model.conditioning = cond
    cfg.resolve()
    norm = {"lst_mean": 290.0, "lst_std": 10.0, "ndvi_mean": 0.4, "ndvi_std": 0.2}
    cond_dim = 12 if cond else 0
    pc = [0.0] * cond_dim if cond else None
    return SRModule(cfg.to_dict(), norm, cond_dim=cond_dim, predict_cond=pc, inference_res_m=1000.0)


def _batch(n: int, p: int, f: int, rng: np.random.Generator, mode: str, cond_dim: int) -> dict:
    hr = torch.from_numpy(rng.normal(size=(n, 1, p * f, p * f)).astype(np.float32))
    lr = torch.nn.functional.avg_pool2d(hr, f)
    b = {"lr": lr, "lr_mask": torch.ones_like(lr, dtype=torch.bool), "hr": hr, "hr_mask": torch.ones_like(hr, dtype=torch.bool)}
    if mode.startswith("disr"):
        b["ndvi"] = torch.from_numpy(rng.normal(size=hr.shape).astype(np.float32))
        b["ndvi_mask"] = torch.ones_like(hr, dtype=torch.bool)
        b["tex"] = torch.tensor([[-2.0, -0.5]] * n)
        del b["hr"], b["hr_mask"]
    if mode.endswith("corrected"):
        b["sf_target"] = torch.ones(n, 2, 4)
    if cond_dim:
        b["cond"] = torch.zeros(n, cond_dim)
    return b


def bench_training(model: str, mode: str, options: dict, *, batch: int, patch: int, steps: int, cond: bool = False) -> float:
    """Patches per second of training steps."""
    m = _module(model, mode, options, cond)
    rng = np.random.default_rng(0)
    b = _batch(batch, patch, m.factor, rng, mode, m.cond_dim)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        sr = m._run(b)
        loss = torch.stack(list(m._losses(b, sr).values())).sum()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def _threads() -> int:
    """Cores this process may run on (the torch threads of every timing)."""
    from sr.predict import _available_cores

    return _available_cores()


def _raster(size: int, rng: np.random.Generator) -> np.ndarray:
    lst = (290 + np.cumsum(rng.normal(size=(size, size)), axis=1) * 0.1).astype(np.float32)
    lst[size // 3 : size // 3 + 10, size // 2 : size // 2 + 10] = np.nan
    return lst


def bare_forward(m, tiles: torch.Tensor, guides: torch.Tensor | None, batch_size: int) -> None:
    """The baseline: the network alone on pre-gathered tiles, batched, channels-last."""
    cl = torch.channels_last
    net = m.net.to(memory_format=cl)
    cond = torch.zeros(1, m.cond_dim) if m.cond_dim else None
    try:
        with torch.inference_mode():
            for i in range(0, tiles.shape[0], batch_size):
                lr = tiles[i : i + batch_size].contiguous(memory_format=cl)
                g = None if guides is None else guides[i : i + batch_size].contiguous(memory_format=cl)
                net(lr, guide=g, cond=None if cond is None else cond.expand(lr.shape[0], -1))
    finally:
        net.to(memory_format=torch.contiguous_format)


def bench_inference(
    model: str, options: dict, *, size: int, mode: str = "sisr_invariant", repeat: int = 3,
    tile: int = 64, overlap: int = 8, batch_size: int = 16,
) -> dict:
    """Median seconds of predict_array and of the bare batched forward pass, interleaved."""
    from sr.predict import _starts, predict_array

    m = _module(model, mode, options).eval()
    f = m.factor
    rng = np.random.default_rng(1)
    lst = _raster(size, rng)
    ndvi = rng.uniform(0, 0.8, (size * f, size * f)).astype(np.float32) if mode.startswith("disr") else None
    starts = _starts(size, min(tile, size), min(tile, size) - overlap)
    t = min(tile, size)
    pos = [(r, c) for r in starts for c in starts]
    tiles = torch.from_numpy(np.stack([np.nan_to_num(lst[r : r + t, c : c + t] - 290.0, nan=0.0) / 10.0 for r, c in pos]))[:, None]
    guides = None
    if ndvi is not None:
        guides = torch.from_numpy(np.stack([ndvi[r * f : (r + t) * f, c * f : (c + t) * f] for r, c in pos]))[:, None]
    n = _threads()

    def tiled():
        return predict_array(m, lst, ndvi, tile=tile, overlap=overlap, batch_size=batch_size, threads=n)

    # warm-up (one batch each)
    predict_array(m, lst[:t, :t], None if ndvi is None else ndvi[: t * f, : t * f], tile=tile, overlap=overlap, threads=n)
    bare_forward(m, tiles[:batch_size], None if guides is None else guides[:batch_size], batch_size)
    t_bare, t_tiled = [], []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        bare_forward(m, tiles, guides, batch_size)
        t1 = time.perf_counter()
        out = tiled()
        t2 = time.perf_counter()
        t_bare.append(t1 - t0)
        t_tiled.append(t2 - t1)
    bare_s, tiled_s = float(np.median(t_bare)), float(np.median(t_tiled))
    return {"bare_s": bare_s, "tiled_s": tiled_s, "tiles": len(pos), "mpix_per_s": out.size / tiled_s / 1e6,
            "bare_all": t_bare, "tiled_all": t_tiled}


def _modis_tile() -> tuple[np.ndarray, str]:
    """The whole 1200 x 1200 MOD11A1 day LST of the shared data, or a synthetic field."""
    from scalelaws.config import data_dir

    path = Path(data_dir()) / "products" / "modis_mod11a1_h14v09" / "MOD11A1.hdf"
    if path.is_file():
        from scalelaws.io import open_lst

        da = open_lst(path)
        return np.asarray(da.values, dtype=np.float32), f"{path.parent.name} ({np.isfinite(da.values).mean():.0%} valid)"
    return _raster(1200, np.random.default_rng(2)), "synthetic 1200 x 1200 (no shared data)"


def bench_modis_tile(model: str, options: dict, *, mode: str, lst: np.ndarray, batch_size: int = 16) -> dict:
    """Wall time of one whole-tile prediction (tiles 64, overlap 8) and the tiles run."""
    from sr.predict import _starts, predict_array

    m = _module(model, mode, options).eval()
    f = m.factor
    h, w = lst.shape
    ndvi = None
    if mode.startswith("disr"):
        ndvi = np.random.default_rng(3).uniform(0, 0.8, (h * f, w * f)).astype(np.float32)
    calls: list[int] = []
    hook = m.net.register_forward_hook(lambda mod, inp, out: calls.append(int(inp[0].shape[0])))
    warm = _raster(64, np.random.default_rng(4))  # (the granule's corner may be all cloud)
    predict_array(m, warm, None if ndvi is None else ndvi[: 64 * f, : 64 * f], threads=_threads())
    calls.clear()
    t0 = time.perf_counter()
    predict_array(m, lst, ndvi, tile=64, overlap=8, batch_size=batch_size, threads=_threads())
    dt = time.perf_counter() - t0
    hook.remove()
    total = len(_starts(h, 64, 56)) * len(_starts(w, 64, 56))
    return {"s": dt, "tiles_run": sum(calls), "tiles": total}


def main(quick: bool = False, size: int | None = None, repeat: int | None = None, modis: bool | None = None) -> list[dict]:
    """Run the benchmark, print the results and return the summary rows of ``python -m benchmarks``.

    Each row compares a network's tiled whole-raster inference (``predict_array``) with the bare
    batched forward pass of the same network over the same tiles (``ratio = bare / tiled``; the
    printed ``tiled/bare`` is its inverse, the target is at most 1.5).
    """
    torch.manual_seed(0)
    threads = _threads()
    torch.set_num_threads(threads)
    unet = {"base": 16, "depth": 3}
    resnet = {"channels": 32, "n_blocks": 4}
    steps = 3 if quick else 10
    batch = 16
    size = size or (128 if quick else 512)
    repeat = repeat or (1 if quick else 3)
    modis = (not quick) if modis is None else modis
    print(f"sr benchmark ({'quick' if quick else 'full'}), torch {torch.__version__}, {threads} threads, device cpu, "
          f"load average {os.getloadavg()[0]:.2f}")
    res: dict = {"training_patches_per_s": {}}
    rows: list[dict] = []
    print(f"training: batches of {batch} patches 16x16 -> 64x64, {steps} steps")
    for label, model, mode, opts, cond in [
        ("resnet  sisr_invariant", "resnet", "sisr_invariant", resnet, False),
        ("unet    sisr_invariant", "unet", "sisr_invariant", unet, False),
        ("unet    sisr_corrected", "unet", "sisr_corrected", unet, True),
        ("disr_unet disr", "disr_unet", "disr", unet, False),
        ("disr_unet disr_corrected", "disr_unet", "disr_corrected", unet, True),
    ]:
        v = bench_training(model, mode, opts, batch=batch, patch=16, steps=steps, cond=cond)
        res["training_patches_per_s"][label] = v
        print(f"  {label:28s} {v:8.1f} patches/s")
    print(f"inference: {size}x{size} raster -> {size * 4}x{size * 4} (tiles 64, overlap 8, cosine, batches of 16), "
          f"median of {repeat} interleaved runs; load average {os.getloadavg()[0]:.2f}")
    per_tile_bare: dict[str, float] = {}
    print(f"  {'model':12s} {'tiles':>6s} {'bare s':>8s} {'tiled s':>8s} {'tiled/bare':>10s} {'Mpix/s':>7s}")
    for label, model, opts, mode in [
        ("bicubic", "bicubic", {}, "sisr_invariant"),
        ("resnet", "resnet", resnet, "sisr_invariant"),
        ("unet", "unet", unet, "sisr_invariant"),
        ("disr_unet", "disr_unet", unet, "disr"),
    ]:
        r = bench_inference(model, opts, size=size, mode=mode, repeat=repeat)
        per_tile_bare[model] = r["bare_s"] / r["tiles"]
        ratio = r["tiled_s"] / r["bare_s"]
        print(f"  {label:12s} {r['tiles']:6d} {r['bare_s']:8.2f} {r['tiled_s']:8.2f} {ratio:10.2f} {r['mpix_per_s']:7.2f}"
              + ("   (bicubic: almost no network, so the fixed costs dominate)" if model == "bicubic" else ""))
        rows.append(
            {
                "name": f"sr predict_array {label} {size}x{size} -> x4",
                "baseline": f"bare batched forward pass, same {r['tiles']} tiles",
                "baseline_s": r["bare_s"],
                "candidate": f"predict_array {label} {opts}",
                "candidate_s": r["tiled_s"],
                "note": f"tiled/bare {ratio:.2f} (target <= 1.5 for the networks); {r['mpix_per_s']:.2f} Mpix/s",
            }
        )
    if modis:
        lst, what = _modis_tile()
        print(f"whole MOD11A1 tile {lst.shape[0]}x{lst.shape[1]} -> x4: {what}, {threads} threads, "
              f"load average {os.getloadavg()[0]:.2f}")
        clear = _raster(1200, np.random.default_rng(2))
        for label, model, mode, field in [
            ("unet", "unet", "sisr_invariant", lst),
            ("disr_unet", "disr_unet", "disr", lst),
            ("unet, cloud-free synthetic field", "unet", "sisr_invariant", clear),
        ]:
            r = bench_modis_tile(model, unet, mode=mode, lst=field)
            print(f"  {label:34s} {r['s']:8.1f} s  ({r['tiles_run']} of {r['tiles']} tiles run; "
                  f"tiles with no valid pixel are skipped)")
            rows.append(
                {
                    "name": f"sr whole MOD11A1 tile {label}"[:46],
                    "baseline": "bare batched forward pass of the tiles run (estimated from the ratio raster)",
                    "baseline_s": per_tile_bare[model] * r["tiles_run"],
                    "candidate": f"predict_array {label}, {r['tiles_run']} of {r['tiles']} tiles",
                    "candidate_s": r["s"],
                    "note": f"load average {os.getloadavg()[0]:.2f}",
                }
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--size", type=int, default=None, help="coarse raster size of the ratio (default 512, quick 128)")
    ap.add_argument("--repeat", type=int, default=None, help="interleaved runs (default 3, quick 1)")
    ap.add_argument("--no-modis", action="store_true", help="skip the whole MOD11A1 tile")
    a = ap.parse_args()
    main(quick=a.quick, size=a.size, repeat=a.repeat, modis=False if a.no_modis else None)
