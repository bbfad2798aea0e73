"""``scalelaws benchmark`` (the MODIS-ASTER comparison) and ``scalelaws evaluate`` (your data).

Registered through the ``scalelaws.cli`` entry-point group; heavy imports (scikit-learn, and
torch through ``sr`` for ``--model``) happen inside the command.

Example::

    scalelaws benchmark modis-aster -o results/modis_aster
    scalelaws benchmark modis-aster --methods bicubic,tsharp --pairs 1,2,14 -o /tmp/bench
    scalelaws benchmark modis-aster --model disr=runs/disr/last.ckpt -o results/modis_aster
    scalelaws benchmark modis-aster --train -o results/experiment        # the whole experiment
    scalelaws benchmark modis-aster --train --quick -o /tmp/exp          # smoke test, < 60 s
    scalelaws evaluate --pred sr.tif --ref landsat_lst.tif --estimate-offset --coarse lst_1km.tif
    scalelaws benchmark sensors -o results/sensors      # Landsat / airborne laws vs ASTER
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _split(text: str | None) -> list[str]:
    return [] if not text else [t.strip() for t in text.split(",") if t.strip()]


def _parse_offset(text: str) -> str | tuple[float, float]:
    if text in ("estimate", "none"):
        return text
    parts = _split(text)
    try:
        dx, dy = (float(v) for v in parts)
    except ValueError:
        from scalelaws.errors import InputError

        raise InputError(
            f"--offset is 'estimate', 'none' or DX,DY in metres (east, north), got {text!r}"
        ) from None
    return dx, dy


def register(app: typer.Typer) -> None:
    """Add the ``benchmark`` command group and the ``evaluate`` command to the ``scalelaws`` CLI."""
    bench = typer.Typer(help="Benchmarks of 1 km -> 250 m LST super-resolution against ASTER.",
                        no_args_is_help=True)

    @bench.command("modis-aster")
    def modis_aster(
        out: str = typer.Option(..., "--out", "-o", help="Output folder."),
        methods: str = typer.Option(
            "bicubic,tsharp,dms", "--methods",
            help="Comma-separated baselines: bicubic, tsharp, dms (block residual: exact 1 km "
                 "consistency), tsharp_smooth, dms_smooth (interpolated residual), atprk (area-to-point "
                 "regression kriging, coherent); '' for none."),
        model: Annotated[list[str] | None, typer.Option(
            "--model", help="Trained network as NAME=CHECKPOINT (repeatable; needs sr).")] = None,
        pairs: str = typer.Option(
            "", "--pairs", help="Comma-separated pair ids (default: every dev pair)."),
        data: str = typer.Option(
            None, "--data", help="Folder of the pairs (default: $SCALELAWS_DATA/modis_aster/pairs)."),
        offset: str = typer.Option(
            "estimate", "--offset",
            help="MODIS-ASTER co-registration: 'estimate' (from 1 km correlation), 'none', or "
                 "DX,DY metres (ASTER relative to MODIS, x east, y north)."),
        n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples over pairs."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and of the DMS trees."),
        save_predictions: bool = typer.Option(
            True, "--save-predictions/--no-save-predictions",
            help="Write each prediction as GeoTIFF under OUT/predictions/."),
        device: str = typer.Option(None, "--device", help="Device of the --model networks."),
        train: bool = typer.Option(
            False, "--train",
            help="The whole experiment: train the SR networks on MODIS data only (SISR on the "
                 "modis_lst_2020 crops, DISR cross-fitted over the pairs, laws from the other "
                 "folds' ASTER and from synthetic landscapes), then score them with the "
                 "baselines (default --methods bicubic,tsharp,dms,tsharp_smooth). Writes "
                 "OUT/experiment.md too."),
        quick: bool = typer.Option(
            False, "--quick", help="With --train: smoke-test sizes (2 pairs, tiny networks)."),
        steps: int = typer.Option(
            None, "--steps", help="With --train: optimiser steps per network."),
        folds: int = typer.Option(None, "--folds", help="With --train: cross-fitting folds."),
        forward: str = typer.Option(
            None, "--forward", help="With --train: forward model of the consistency losses, "
                                    "mean (default: 1 km boxes) or psf (Gaussian PSF)."),
        first_guess: str = typer.Option(
            None, "--first-guess", help="With --train: DISR first guess, tsharp (default) or "
                                        "bicubic."),
        w_law: float = typer.Option(None, "--w-law", help="With --train: law loss weight."),
        w_consistency: float = typer.Option(
            None, "--w-consistency", help="With --train: DISR consistency loss weight."),
        w_texture: float = typer.Option(
            None, "--w-texture", help="With --train: DISR NDVI texture loss weight."),
        sr_methods: str = typer.Option(
            "", "--sr-methods", help="With --train: comma-separated subset of sisr_invariant, "
                                     "sisr_corrected, sisr_corrected_synlaw, disr, "
                                     "disr_corrected, disr_corrected_synlaw (default: all)."),
        retrain: bool = typer.Option(
            False, "--retrain", help="With --train: retrain networks already trained in OUT."),
        budget: str = typer.Option(
            None, "--budget",
            help="With --train: quick, default or full (analysis.selection.BUDGETS). Retrains the "
                 "settings a nested search chose (--choices; no search is run) as ensembles "
                 "(full: 5 seeds) and scores them as nested_best, with every law-corrected mode "
                 "and its scale-invariant twin (one seed each) and the baselines (with atprk)."),
        choices: str = typer.Option(
            None, "--choices",
            help="With --budget: the choices to retrain, a search's selection.json (default: "
                 "this release's, analysis/release_choices.json)."),
    ) -> None:
        """Score baselines and trained networks against ASTER on the MODIS-ASTER pairs.

        Writes OUT/modis_aster.nc, per-pair and summary CSV, and a markdown table
        (OUT/modis_aster.md, also printed). With --train, the SR networks are trained first
        (MODIS data only) and OUT/experiment.md reports the table with paired differences
        against the best baseline.
        """
        import shlex
        import sys

        from analysis.experiment import parse_model_spec, run_modis_aster
        from scalelaws.errors import InputError
        from scalelaws.io.atomic import check_output_dir

        try:
            ids = [int(p) for p in _split(pairs)] or None
        except ValueError:
            raise InputError(f"--pairs expects comma-separated integers, got {pairs!r}") from None
        check_output_dir(out, [data])
        for spec in model or []:
            _, ckpt = parse_model_spec(spec)
            if not ckpt.is_file():
                raise InputError("model checkpoint not found", ckpt)
        meth = _split(methods)
        if budget is not None and not train:
            raise InputError("--budget needs --train")
        if train and budget is not None:
            import shlex
            import sys
            from pathlib import Path

            from analysis.experiment import ExperimentSettings
            from analysis.selection import BUDGETS, run_budget

            if budget not in BUDGETS:
                raise InputError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
            if ids is not None:
                raise InputError("--budget scores the pairs of its --choices; drop --pairs")
            base = ExperimentSettings.quick() if (quick or budget == "quick") else None
            kw = {"methods": meth} if methods != "bicubic,tsharp,dms" else {}
            if _split(sr_methods):
                kw["sr_methods"] = _split(sr_methods)
            ds = run_budget(
                out, budget, choices=choices, base=base, steps=steps, root=data,
                offset=_parse_offset(offset), n_boot=n_boot, seed=seed,
                save_predictions=save_predictions,
                command="scalelaws " + " ".join(shlex.quote(a) for a in sys.argv[1:]), **kw)
            typer.echo((Path(out) / "experiment.md").read_text())
            log.info("done in %s s", ds.attrs.get("experiment_wall_time_s"))
            return
        if train:
            import dataclasses

            from analysis.experiment import EXPERIMENT_BASELINES, ExperimentSettings, run_experiment

            st = ExperimentSettings.quick() if quick else ExperimentSettings()
            over = {"steps": steps, "folds": folds, "forward": forward,
                    "disr_first_guess": first_guess, "w_law": w_law,
                    "w_consistency": w_consistency, "w_texture": w_texture}
            st = dataclasses.replace(st, **{k: v for k, v in over.items() if v is not None})
            if quick and ids is None:
                ids = [1, 102]
            if methods == "bicubic,tsharp,dms":  # the option's default: the experiment's set
                meth = list(EXPERIMENT_BASELINES)
            ds = run_experiment(
                out, ids, settings=st, methods=meth, sr_methods=_split(sr_methods) or None,
                root=data, offset=_parse_offset(offset), n_boot=n_boot, seed=seed,
                retrain=retrain, save_predictions=save_predictions,
                command="scalelaws " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
            from pathlib import Path

            typer.echo((Path(out) / "experiment.md").read_text())
            log.info("done in %s s", ds.attrs.get("experiment_wall_time_s"))
            return
        ds = run_modis_aster(
            meth, out, ids, models=model or None, root=data, offset=_parse_offset(offset),
            n_boot=n_boot, seed=seed, save_predictions=save_predictions,
            baseline_kw={"dms": {"seed": seed}} if "dms" in meth else None,
            model_kw={"device": device} if device else None,
        )
        from analysis.evaluate import markdown_table

        typer.echo(markdown_table(ds))
        log.info("done in %s s", ds.attrs.get("wall_time_s"))

    @bench.command("sensors")
    def sensors(
        out: str = typer.Option(..., "--out", "-o", help="Output folder."),
        data: str = typer.Option(None, "--data", help="Data root (default: $SCALELAWS_DATA)."),
        fields: str = typer.Option("", "--fields", help="Comma-separated field keys (default all)."),
        aster: bool = typer.Option(True, "--aster/--no-aster", help="Fit the ASTER reference law."),
        controls: bool = typer.Option(
            True, "--controls/--no-controls",
            help="Add fields degraded within the data (pixel-size controls)."),
        n_surrogates: int = typer.Option(
            20, "--n-surrogates",
            help="fBm surrogates per single-field law (realisation spread of H; 0: none)."),
        n_boot: int = typer.Option(200, "--n-boot", help="Bootstrap replicates of every law."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstraps."),
    ) -> None:
        """Laws from Landsat and airborne thermal fields side by side with the ASTER law.

        Writes OUT/sensors.nc (local exponents with intervals per field and landscape),
        OUT/sensors.csv and OUT/sensors.md (also printed). See analysis.sensors.
        """
        import shlex

        from analysis.sensors import run_sensors

        cmd = (f"scalelaws benchmark sensors -o {shlex.quote(str(out))}"
               + (f" --data {shlex.quote(str(data))}" if data else "")
               + (f" --fields {shlex.quote(fields)}" if fields else "")
               + ("" if aster else " --no-aster") + ("" if controls else " --no-controls")
               + f" --n-surrogates {n_surrogates} --n-boot {n_boot} --seed {seed}")
        run_sensors(out, root=data, keys=_split(fields) or None, aster=aster,
                    controls=controls, n_surrogates=n_surrogates, n_boot=n_boot, seed=seed,
                    command=cmd)
        from pathlib import Path

        typer.echo((Path(out) / "sensors.md").read_text())

    app.add_typer(bench, name="benchmark")

    @app.command("evaluate")
    def evaluate_cmd(
        pred: str = typer.Option(..., "--pred", help="Predicted LST (K), e.g. a 250 m GeoTIFF "
                                                     "from `scalelaws predict`."),
        ref: str = typer.Option(..., "--ref", help="Reference LST (K): Landsat, ASTER, "
                                                   "airborne... any raster with a CRS."),
        out: str = typer.Option(None, "--out", "-o", help="Write the metrics to this .nc or "
                                                          ".json file."),
        offset: tuple[float, float] | None = typer.Option(
            None, "--offset", help="Co-registration: the reference's displacement DX DY "
            "in metres (x east, y north) in the CRS of --coarse if given, else of --pred."),
        estimate: bool = typer.Option(
            False, "--estimate-offset", help="Estimate the co-registration by correlation "
            "with --coarse (recommended) or, without it, with the prediction."),
        coarse: str = typer.Option(
            None, "--coarse", help="The coarse input (e.g. MODIS 1 km LST): frame of the offset "
            "estimate and of the 1 km consistency error."),
        offset_max: float = typer.Option(500.0, "--offset-max", help="Offset search radius (m)."),
        offset_step: float = typer.Option(58.0, "--offset-step", help="Offset search step (m)."),
        aggregate_ref: bool = typer.Option(
            True, "--aggregate-ref/--no-aggregate-ref", help="Average a reference >= 1.5x finer "
            "than the prediction to its resolution first."),
        scale_grid: str = typer.Option(
            "native", "--scale-grid", help="Grid of the scale-aware metrics: native (each field "
            "on its own grid) or reference (after reprojection)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    ) -> None:
        """Score a predicted LST map against a high-resolution reference LST.

        The benchmark's protocol and metrics (RMSE, bias, ubRMSE, MAE, r, PSNR, SSIM, RMSE per
        gradient tercile, consistency with --coarse, structure-function and spectral ratios per
        scale). Exit status 2, with a one-line message, for unusable inputs.
        """
        import json

        from analysis.evaluate import (
            evaluate_prediction,
            metrics_json,
            metrics_table,
            write_metrics,
        )
        from scalelaws.errors import InputError
        from scalelaws.io import open_lst

        given = None if not offset or offset[0] is None else (float(offset[0]), float(offset[1]))
        if given is not None and estimate:
            raise InputError("give either --offset DX DY or --estimate-offset, not both")
        if scale_grid not in ("native", "reference"):
            raise InputError(f"--scale-grid must be native or reference, got {scale_grid!r}")
        if out is not None and not out.lower().endswith((".nc", ".json")):
            raise InputError("the metrics file must end in .nc or .json", out)
        p = open_lst(pred)
        r = open_lst(ref)
        c = open_lst(coarse) if coarse else None
        ds = evaluate_prediction(
            p, r, offset="estimate" if estimate else given, coarse=c,
            aggregate_ref=aggregate_ref, step_m=offset_step, max_m=offset_max,
            scale_grid=scale_grid)
        ds.attrs.update(prediction=str(pred), reference=str(ref))
        if out is not None:
            write_metrics(ds, out)
        if as_json:
            typer.echo(json.dumps(metrics_json(ds), indent=2))
        else:
            typer.echo(metrics_table(ds))
