"""sr.modelfile: the scalelaws-sr model file, safe loading (no unpickling of code), export."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import xarray as xr  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from scalelaws.cli import app  # noqa: E402
from scalelaws.errors import InputError  # noqa: E402
from sr.modelfile import FORMAT, VERSION, SRInferenceModel, export_model, load_sr_model  # noqa: E402
from sr.predict import predict_array, predict_dataarray  # noqa: E402

NOT_A_MODEL = "not a scalelaws SR model"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A Lightning checkpoint of a tiny sisr_invariant network trained for 2 steps."""
    from sr.train import SRConfig, train

    tmp = tmp_path_factory.mktemp("mf")
    cfg = SRConfig.from_dict({
        "mode": "sisr_invariant",
        "data": {"source": "synthetic", "factor": 4, "patch": 4, "batch_size": 2, "val_fraction": 0.34,
                 "options": {"kinds": ["cropland", "urban"], "n_per_kind": 1, "shape": [128, 128],
                             "obs_factor": 4, "seed": 3}},
        "model": {"options": {"base": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "accelerator": "cpu"},
    })
    return train(cfg, out_dir=tmp / "run")


def _lst(seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    return (295 + np.cumsum(r.normal(size=(12, 14)), axis=1) * 0.5).astype(np.float32)


def _variant(ckpt: Path, out: Path, edit) -> Path:
    d = torch.load(ckpt, map_location="cpu", weights_only=True)
    edit(d)
    torch.save(d, out)
    return out


def test_export_writes_the_documented_plain_format(ckpt, tmp_path):
    card = {"description": "test model", "metrics": {"rmse_K": 1.5}}
    out = export_model([ckpt], tmp_path / "model.pt", card=card)
    raw = torch.load(out, map_location="cpu", weights_only=True)  # plain data only
    assert set(raw) == {"format", "version", "meta", "members"}
    assert raw["format"] == FORMAT == "scalelaws-sr" and raw["version"] == VERSION == 1
    assert isinstance(raw["meta"], str)
    meta = json.loads(raw["meta"])
    for key in ("config", "norm", "cond_dim", "predict_cond", "inference_res_m", "cond_names", "factor", "mode",
                "card", "created", "scalelaws_version"):
        assert key in meta, key
    hp = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert meta["config"] == hp["hyper_parameters"]["config"]
    assert meta["norm"] == hp["hyper_parameters"]["norm"]
    assert meta["card"] == card and meta["factor"] == 4 and meta["mode"] == "sisr_invariant"
    assert len(raw["members"]) == 1
    net = {k[4:]: v for k, v in hp["state_dict"].items() if k.startswith("net.")}
    assert raw["members"][0].keys() == net.keys()  # the network only: no optimiser, no loss buffers
    for k, v in net.items():
        assert torch.equal(raw["members"][0][k], v)


def test_model_file_and_checkpoint_predict_like_the_trained_module(ckpt, tmp_path):
    from sr.module import SRModule

    trusted = SRModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False).eval()
    lst = _lst()
    want = predict_array(trusted, lst, tile=8, overlap=2)
    for path in (ckpt, export_model([ckpt], tmp_path / "m.pt")):
        m = load_sr_model(path)
        assert isinstance(m, SRInferenceModel) and not m.training and not m.net.training
        assert m.factor == 4 and m.cond_dim == 0 and len(m.members) == 1
        assert m.hparams["config"] == trusted.hparams["config"]
        assert m.hparams["inference_res_m"] == trusted.hparams["inference_res_m"]
        assert m.norm == trusted.norm
        np.testing.assert_array_equal(predict_array(m, lst, tile=8, overlap=2), want)
    # predict_dataarray reads hparams["config"] and hparams.get("inference_res_m")
    h, w = lst.shape
    da = xr.DataArray(lst, dims=("y", "x"), coords={"y": 1000.0 * (h - np.arange(h) - 0.5),
                                                     "x": 1000.0 * (np.arange(w) + 0.5)}).rio.write_crs("EPSG:32631")
    out = predict_dataarray(m, da, tile=8, overlap=2)
    assert out.shape == (4 * h, 4 * w) and out.attrs["sr_mode"] == "sisr_invariant"
    np.testing.assert_array_equal(out.values, want)


def test_several_checkpoints_make_an_ensemble(ckpt, tmp_path):
    def perturb(d):
        for k, v in d["state_dict"].items():
            if k.startswith("net.") and v.is_floating_point():
                d["state_dict"][k] = v + 0.01

    other = _variant(ckpt, tmp_path / "other.ckpt", perturb)
    m = load_sr_model(export_model([ckpt, other], tmp_path / "ens.pt", card={"members": "2 seeds"}))
    assert len(m.members) == 2 and m.card == {"members": "2 seeds"}
    assert m.net is m.members[0]
    x = torch.randn(1, 1, 6, 6)
    with torch.no_grad():
        a, b = m.members[0](x), m.members[1](x)
        assert not torch.equal(a, b)
        torch.testing.assert_close(m(x), (a + b) / 2)
    assert [i["source"] for i in m.meta["members_info"]] == [ckpt.name, "other.ckpt"]


def test_members_must_share_architecture_normalisation_and_conditioning(ckpt, tmp_path):
    def other_norm(d):
        d["hyper_parameters"]["norm"]["lst_std"] *= 2

    def other_model(d):
        d["hyper_parameters"]["config"]["model"]["options"]["base"] = 8

    for edit, what in ((other_norm, "norm"), (other_model, "model")):
        bad = _variant(ckpt, tmp_path / f"{what}.ckpt", edit)
        with pytest.raises(InputError, match=what) as err:
            export_model([ckpt, bad], tmp_path / "x.pt")
        assert str(bad) in str(err.value)
    assert not (tmp_path / "x.pt").exists()


class _Evil:
    """A pickle payload: unpickling it creates ``marker`` (it would run any other call as well)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickles_are_refused_without_running_code(ckpt, tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil(marker)
    files = {
        "model_file.pt": lambda p: torch.save({"format": FORMAT, "version": 1, "meta": evil, "members": []}, p),
        "checkpoint.ckpt": lambda p: _variant(ckpt, p, lambda d: d["hyper_parameters"].update(card=evil)),
        "plain_pickle.pt": lambda p: p.write_bytes(pickle.dumps({"format": FORMAT, "x": evil})),
        "member.pt": lambda p: torch.save({"format": FORMAT, "version": 1, "meta": "{}", "members": [evil]}, p),
    }
    for name, make in files.items():
        path = tmp_path / name
        make(path)
        assert not marker.exists()
        with pytest.raises(InputError, match=NOT_A_MODEL) as err:
            load_sr_model(path)
        msg = str(err.value)
        assert str(path) in msg and "refused" in msg, msg
        if name != "plain_pickle.pt":  # torch files: the refused object is named (io.open)
            assert "open" in msg, msg
        assert "weights_only=False" not in msg and "Weights only" not in msg  # not torch's advice
        assert not marker.exists(), name
    # the payload is live: an unsafe load would have run it
    torch.load(tmp_path / "model_file.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("case", ["empty", "text", "random", "truncated", "list", "foreign_dict", "format",
                                  "version", "meta_json", "meta_keys", "shape", "no_net"])
def test_corrupt_or_foreign_files_name_the_problem(ckpt, tmp_path, case):
    good = export_model([ckpt], tmp_path / "good.pt")
    raw = torch.load(good, weights_only=True)
    path = tmp_path / f"{case}.pt"
    expect = {
        "empty": "empty", "text": "", "random": "", "truncated": "truncated", "list": "list",
        "foreign_dict": "neither", "format": "format", "version": "newer", "meta_json": "JSON",
        "meta_keys": "lacks", "shape": "do not fit", "no_net": "no network weights",
    }[case]
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello, I am a model\n")
    elif case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "list":
        torch.save([torch.zeros(3)], path)
    elif case == "foreign_dict":
        torch.save({"weights": torch.zeros(3)}, path)
    elif case == "format":
        torch.save({**raw, "format": "someone-else"}, path)
    elif case == "version":
        torch.save({**raw, "version": 99}, path)
    elif case == "meta_json":
        torch.save({**raw, "meta": "{not json"}, path)
    elif case == "meta_keys":
        torch.save({**raw, "meta": json.dumps({"config": {}})}, path)
    elif case == "shape":
        member = {k: torch.zeros(3) for k in raw["members"][0]}
        torch.save({**raw, "members": [member]}, path)
    elif case == "no_net":
        _variant(ckpt, path, lambda d: d.update(state_dict={"other.w": torch.zeros(1)}))
    with pytest.raises(InputError, match=NOT_A_MODEL) as err:
        load_sr_model(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {NOT_A_MODEL}: ") and expect in msg, msg
    assert "weights_only" not in msg and len(msg.splitlines()) == 1


def test_missing_model_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_sr_model(tmp_path / "nope.pt")


def test_export_model_cli(ckpt, tmp_path):
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"description": "cli"}))
    out = tmp_path / "cli.pt"
    res = CliRunner().invoke(app, ["export-model", str(ckpt), str(ckpt), "-o", str(out), "--card", str(card)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out)
    m = load_sr_model(out)
    assert len(m.members) == 2 and m.card == {"description": "cli"}
    bad = tmp_path / "bad.ckpt"
    bad.write_text("junk")  # 4 bytes: struct.error inside torch.load
    res = CliRunner().invoke(app, ["export-model", str(bad), "-o", str(tmp_path / "b.pt")])
    assert res.exit_code == 2 and NOT_A_MODEL in res.output and "Traceback" not in res.output
    assert not (tmp_path / "b.pt").exists()
    res = CliRunner().invoke(app, ["export-model", str(ckpt), "-o", str(ckpt)])
    assert res.exit_code == 2 and "overwrite" in res.output


def test_update_postprocess_keeps_weights_and_card(ckpt, tmp_path):
    from sr.modelfile import read_model_file, update_postprocess

    f = export_model([ckpt], tmp_path / "m.pt", card={"name": "x"}, postprocess={"gaussian_sigma_px": 0.0})
    meta0, sd0 = read_model_file(f)
    update_postprocess(f, {"gaussian_sigma_px": 1.25, "realisation": {"kappa": [1.2, 1.2]}})
    meta1, sd1 = read_model_file(f)
    assert meta1["postprocess"] == {"gaussian_sigma_px": 1.25, "realisation": {"kappa": [1.2, 1.2]}}
    assert meta1["card"] == meta0["card"] == {"name": "x"}
    for a, b in zip(sd0, sd1, strict=True):
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert load_sr_model(f).postprocess["gaussian_sigma_px"] == 1.25
    with pytest.raises(InputError):
        update_postprocess(f, {"bad": object()})
    assert read_model_file(f)[0]["postprocess"]["gaussian_sigma_px"] == 1.25   # nothing lost
