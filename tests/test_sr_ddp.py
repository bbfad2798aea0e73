"""sr: a 2-process DDP run on CPU (gloo) through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(), reason="no gloo backend")
def test_two_process_ddp_gloo_training(tmp_path):
    cfg = {
        "mode": "disr",
        "data": {
            "source": "synthetic", "factor": 4, "patch": 4, "batch_size": 2, "val_fraction": 0.34,
            "options": {"kinds": ["cropland", "urban"], "n_per_kind": 1, "shape": [128, 128], "obs_factor": 4, "seed": 3},
        },
        "model": {"options": {"base": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "log_every_n_steps": 1,
                    "accelerator": "cpu", "devices": 2, "strategy": "ddp"},
    }
    path = tmp_path / "ddp.json"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "scalelaws", "-v", "train", "--config", str(path), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Starting with 2 processes" in out and "gloo" in out
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert proc.stdout.strip().splitlines()[-1] == str(ckpt)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert state["global_step"] == 2
    assert state["hyper_parameters"]["config"]["trainer"]["strategy"] == "ddp"
