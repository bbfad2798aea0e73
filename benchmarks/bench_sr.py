"""Throughput of the super-resolution networks on CPU (or the default torch device).

Run::

    python -m benchmarks.bench_sr            # full: whole 1200 x 1200 MODIS tile (1 km -> 250 m)
    python -m benchmarks.bench_sr --quick    # small sizes, about a minute
    python -m benchmarks sr [--quick]        # through the benchmark runner (summary table)

Training: optimisation steps (forward, losses, backward, Adam) on random 16 x 16 coarse patches
(64 x 64 fine), reported in patches/s, for each registered network with its mode's losses
(pixel loss for SISR; consistency + NDVI texture (+ law loss) for DISR).
Inference: :func:`sr.predict.predict_array` on a whole raster (tiles of 64 coarse pixels,
overlap 8, cosine blending), reported in output Mpix/s, with the ratio against the bicubic
model run through the same tiled pipeline in the same process (the baseline).
"""

from __future__ import annotations

import argparse
import logging
import time

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


def bench_inference(model: str, options: dict, *, size: int, mode: str = "sisr_invariant") -> tuple[float, float]:
    """Output Mpix/s and seconds for a whole ``size x size`` raster through predict_array."""
    from sr.predict import predict_array

    m = _module(model, mode, options).eval()
    rng = np.random.default_rng(1)
    lst = (290 + np.cumsum(rng.normal(size=(size, size)), axis=1) * 0.1).astype(np.float32)
    lst[size // 3 : size // 3 + 10, size // 2 : size // 2 + 10] = np.nan
    ndvi = rng.uniform(0, 0.8, (size * m.factor, size * m.factor)).astype(np.float32) if mode.startswith("disr") else None
    predict_array(m, lst[:64, :64], None if ndvi is None else ndvi[: 64 * m.factor, : 64 * m.factor])  # warm-up
    t0 = time.perf_counter()
    out = predict_array(m, lst, ndvi, tile=64, overlap=8, batch_size=8)
    dt = time.perf_counter() - t0
    return out.size / dt / 1e6, dt


def main(quick: bool = False, size: int | None = None) -> list[dict]:
    """Run the benchmark, print the results and return the summary rows of ``python -m benchmarks``.

    Each row compares a network's whole-raster inference time with the bicubic baseline's
    (``ratio = baseline / candidate``, below 1: the networks are slower than bicubic).
    """
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    unet = {"base": 16, "depth": 3} if quick else {"base": 32, "depth": 3}
    resnet = {"channels": 32, "n_blocks": 4} if quick else {"channels": 64, "n_blocks": 8}
    steps = 3 if quick else 10
    batch = 8 if quick else 16
    size = size or (128 if quick else 1200)
    print(f"sr benchmark ({'quick' if quick else 'full'}), torch {torch.__version__}, {threads} threads, device cpu")
    res: dict = {"training_patches_per_s": {}, "inference_mpix_per_s": {}}
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
    print(f"inference: whole {size}x{size} raster -> {size * 4}x{size * 4} (tiles 64, overlap 8, cosine)")
    base, tb = bench_inference("bicubic", {}, size=size)
    res["inference_mpix_per_s"]["bicubic"] = base
    print(f"  {'bicubic (baseline)':28s} {base:8.2f} Mpix/s  ({tb:.2f} s)")
    for label, model, opts, mode in [
        ("resnet", "resnet", resnet, "sisr_invariant"),
        ("unet", "unet", unet, "sisr_invariant"),
        ("disr_unet", "disr_unet", unet, "disr"),
    ]:
        v, dt = bench_inference(model, opts, size=size, mode=mode)
        res["inference_mpix_per_s"][label] = v
        print(f"  {label:28s} {v:8.2f} Mpix/s  ({dt:.2f} s)  = {v / base:.3f} x bicubic")
        rows.append(
            {
                "name": f"sr inference {label} {size}x{size} -> x4",
                "baseline": "bicubic through the same tiled predict_array",
                "baseline_s": tb,
                "candidate": f"{label} {opts}",
                "candidate_s": dt,
                "note": f"{v:.2f} Mpix/s; training "
                + ", ".join(f"{k.split()[0]} {k.split()[-1]} {p:.1f}" for k, p in res["training_patches_per_s"].items() if k.startswith(model))
                + " patches/s",
            }
        )
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--size", type=int, default=None, help="coarse raster size (default 1200, quick 128)")
    a = ap.parse_args()
    main(quick=a.quick, size=a.size)
