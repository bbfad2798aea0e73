"""sr training survives faults: step checkpoints, exact resume after SIGKILL, used folders, divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from typer.testing import CliRunner  # noqa: E402

pytestmark = pytest.mark.e2e

STEPS_PER_EPOCH = 5
EPOCHS = 3
EVERY = 3  # step checkpoints at 3, 6, 9, 12, 15: mid-epoch (3, 9, 12) and epoch ends (5, 10, 15)


def _config(tmp: Path, **trainer: object) -> Path:
    cfg = {
        "mode": "sisr_invariant",
        "data": {
            "source": "synthetic", "factor": 4, "patch": 4, "stride": 1, "batch_size": 2, "val_fraction": 0.34,
            "options": {"kinds": ["cropland", "urban"], "n_per_kind": 1, "shape": [128, 128], "obs_factor": 4,
                        "seed": 3},
        },
        "model": {"options": {"base": 4, "depth": 2}},
        "trainer": {
            "max_epochs": EPOCHS, "limit_train_batches": STEPS_PER_EPOCH, "limit_val_batches": 1,
            "log_every_n_steps": 1, "accelerator": "cpu", "deterministic": True, "seed": 7,
            "checkpoint_every_n_steps": EVERY, **trainer,
        },
    }
    path = tmp / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    pp = os.environ.get("PYTHONPATH")
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore",
                PYTHONPATH=root + (os.pathsep + pp if pp else ""))


def _train_cmd(cfg: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scalelaws", "train", "--config", str(cfg), "--out", str(out), *extra]


def _net(ckpt: Path) -> dict[str, torch.Tensor]:
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    return {k: v for k, v in sd["state_dict"].items() if k.startswith("net.")}, sd["global_step"]


def _max_rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-30)) for k in a)


def test_sigkill_then_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    cfg = _config(tmp_path)
    env = _env()
    ref = subprocess.run(_train_cmd(cfg, tmp_path / "ref"), capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr[-3000:]
    want, step = _net(tmp_path / "ref" / "checkpoints" / "last.ckpt")
    assert step == STEPS_PER_EPOCH * EPOCHS

    # the run to kill: SIGKILL as soon as the first step checkpoint appears
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(_train_cmd(cfg, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=tmp_path)
    try:
        t0 = time.monotonic()
        while not last.exists() and proc.poll() is None and time.monotonic() - t0 < 240:
            time.sleep(0.005)
        assert proc.poll() is None, "training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    _, killed_at = _net(last)  # a complete, loadable checkpoint (written atomically)
    assert 0 < killed_at < STEPS_PER_EPOCH * EPOCHS

    res = subprocess.run(_train_cmd(cfg, run, "--resume"), capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    got, step = _net(last)
    assert step == STEPS_PER_EPOCH * EPOCHS
    assert not list(run.glob("previous-*"))  # resumed, not restarted
    assert _max_rel_diff(got, want) <= 1e-6


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Weights of an uninterrupted in-process run (single thread: bit-reproducible)."""
    from sr.train import train

    tmp = tmp_path_factory.mktemp("ref")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _net(train(_config(tmp), out_dir=tmp / "ref"))[0]
    finally:
        torch.set_num_threads(old)


class _Crash(RuntimeError):
    pass


@pytest.mark.parametrize("crash_at", [5, 7])
def test_resume_after_a_crash_mid_epoch_or_at_an_epoch_end_is_exact(tmp_path, reference, monkeypatch, crash_at):
    """A run that crashes in step ``crash_at`` (checkpoints every step), resumed, ends like the reference.

    Step 5 is the first of epoch 1 (the checkpoint is the epoch-end one), step 7 the third.
    """
    from sr.module import SRModule
    from sr.train import load_config, train

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    orig = SRModule.training_step
    seen: list[tuple[int, int]] = []

    def crashing(self, batch, batch_idx):
        seen.append((self.current_epoch, batch_idx))
        if self.global_step == crash_at:
            raise _Crash("simulated crash")
        return orig(self, batch, batch_idx)

    run = tmp_path / "run"
    try:
        monkeypatch.setattr(SRModule, "training_step", crashing)
        with pytest.raises(_Crash):
            train(load_config(_config(tmp_path, checkpoint_every_n_steps=1)), out_dir=run)
        assert _net(run / "checkpoints" / "last.ckpt")[1] == crash_at
        monkeypatch.setattr(SRModule, "training_step", lambda self, b, i: (seen.append((self.current_epoch, i)),
                                                                          orig(self, b, i))[1])
        seen.clear()
        got, step = _net(train(load_config(_config(tmp_path, checkpoint_every_n_steps=1, resume=True)),
                               out_dir=run))
    finally:
        torch.set_num_threads(old)
    assert step == STEPS_PER_EPOCH * EPOCHS
    # it continued with the next batch of the interrupted epoch, not from the epoch's start
    assert seen[0] == divmod(crash_at, STEPS_PER_EPOCH)
    assert len(seen) == STEPS_PER_EPOCH * EPOCHS - crash_at
    assert _max_rel_diff(got, reference) <= 1e-6


def test_a_fresh_run_moves_the_previous_run_aside_and_divergence_stops_cleanly(tmp_path):
    """Run 1 trains; run 2 (fresh, same folder, lr 1e30) keeps run 1 in previous-*/ and stops on inf/NaN."""
    from scalelaws.cli import app
    run = tmp_path / "run"
    cfg = _config(tmp_path, max_epochs=1, limit_train_batches=2)
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(run)])
    assert res.exit_code == 0, res.output
    first = (run / "checkpoints" / "last.ckpt").read_bytes()

    cfg = _config(tmp_path, max_epochs=2, lr=1e30, checkpoint_every_n_steps=1)
    d = json.loads(cfg.read_text())
    d["loss"] = {"pixel": "mse"}  # Adam moves every weight by ~lr: the squared error overflows at step 2
    cfg.write_text(json.dumps(d))
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(run)])
    assert res.exit_code == 2, res.output
    msg = res.output.strip().splitlines()[-1]
    assert msg.startswith("error: ") and "diverged" in msg and "last.ckpt" in msg and "trainer.lr" in msg, msg
    assert "Traceback" not in res.output

    prev = list(run.glob("previous-*"))
    assert len(prev) == 1
    assert (prev[0] / "checkpoints" / "last.ckpt").read_bytes() == first  # the earlier run, untouched
    assert (prev[0] / "config.json").is_file() and (prev[0] / "logs").is_dir()
    assert not list((run / "checkpoints").glob("*-v*.ckpt"))

    sd = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert sd["global_step"] == 1  # the step before the first non-finite loss
    assert all(bool(torch.isfinite(v).all()) for v in sd["state_dict"].values())
    assert f"step {sd['global_step'] + 1}" in msg
