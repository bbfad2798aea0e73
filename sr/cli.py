"""``scalelaws train``, ``export-model`` and ``predict``: the super-resolution sub-commands.

Registered through the ``scalelaws.cli`` entry-point group. torch and Lightning are imported
inside the command bodies so that ``scalelaws --help`` stays fast. Bad input raises
:class:`scalelaws.errors.InputError`, answered by the CLI's one handler
(:class:`scalelaws.cli.ErrorHandlingGroup`): one line and exit code 2.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from scalelaws.commands import CrsOpt, NdviScaleOpt, NodataOpt, OffsetOpt, ScaleOpt, UnitsOpt
from scalelaws.errors import InputError

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``export-model`` and ``predict`` to the ``scalelaws`` app."""

    @app.command("train")
    def train_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="JSON or TOML training configuration.")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (overrides out_dir).")] = None,
        max_epochs: Annotated[int | None, typer.Option("--max-epochs", help="Override trainer.max_epochs.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Resume from OUT/checkpoints/last.ckpt (without it, an earlier run in OUT is moved to OUT/previous-<time>/).")] = False,
    ) -> None:
        """Train a super-resolution model (modes: sisr_invariant, sisr_corrected, disr, disr_corrected)."""
        from scalelaws.io.atomic import check_output_dir
        from sr.train import load_config, train

        cfg = load_config(config)
        check_output_dir(out if out is not None else cfg.out_dir, [config])
        if resume:
            cfg.trainer.resume = "last"
        ckpt = train(cfg, out_dir=out, max_epochs=max_epochs)
        if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
            typer.echo(str(ckpt))  # once, from the launching process of a DDP run

    @app.command("export-model")
    def export_model_cmd(
        checkpoints: Annotated[list[Path], typer.Argument(help="Training checkpoints (.ckpt) of one configuration.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.pt).")],
        card: Annotated[Path | None, typer.Option("--card", help="JSON file: the model card (description, data, metrics).")] = None,
    ) -> None:
        """Pack one or several checkpoints (an ensemble) into one safe scalelaws-sr model file."""
        import json

        from sr.modelfile import export_model

        card_d = None  # an InputError is answered by the root command group (one line, exit 2)
        if card is not None:
            try:
                card_d = json.loads(card.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(f"cannot read the model card as JSON ({exc})", card) from exc
            if not isinstance(card_d, dict):
                raise InputError("the model card must be a JSON object", card)
        out = export_model(checkpoints, output, card=card_d)
        typer.echo(str(out))

    @app.command("predict")
    def predict_cmd(
        lst: Annotated[Path, typer.Option("--lst", help="LST raster in kelvin (GeoTIFF or NetCDF).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output .tif (COG) or .nc on the fine grid.")],
        model: Annotated[str | None, typer.Option("--model", "-m", help="A shipped model's name (scalelaws models), a model file (.pt) or a training checkpoint (.ckpt); default: the shipped default (the single-image default without --ndvi).")] = None,
        uncertainty: Annotated[bool, typer.Option("--uncertainty", help="Also write the calibrated uncertainty (band 2 lst_std, K): the model's floor, ensemble spread and local-gradient terms.")] = False,
        realisations: Annotated[int, typer.Option("--realisations", help="Also write N realisations (bands lst_r1..lst_rN) that carry the law's texture and keep the 1 km block means of the estimate.")] = 0,
        law: Annotated[Path | None, typer.Option("--law", help="Correction law of the realisations (default: the one stored with the model).")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the realisations.")] = 0,
        ndvi: Annotated[Path | None, typer.Option("--ndvi", help="Fine NDVI raster (guided models); must cover the LST.")] = None,
        band: Annotated[int, typer.Option("--band", help="LST band (MODIS 2020 crops: 1 day, 2 night).")] = 1,
        units: UnitsOpt = None,
        nodata: NodataOpt = None,
        scale: ScaleOpt = None,
        offset: OffsetOpt = None,
        crs: CrsOpt = None,
        ndvi_scale: NdviScaleOpt = None,
        tile: Annotated[int, typer.Option("--tile", help="Tile size in input pixels.")] = 64,
        overlap: Annotated[int, typer.Option("--overlap", help="Tile overlap in input pixels.")] = 8,
        blend: Annotated[str, typer.Option("--blend", help="Tile blending: cosine or linear.")] = "cosine",
        batch_size: Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")] = 8,
        device: Annotated[str, typer.Option("--device", help="torch device (cpu, cuda, cuda:1, ...).")] = "cpu",
    ) -> None:
        """Super-resolve a whole LST raster with a trained model, tiled with blended overlaps."""
        from scalelaws.io.atomic import check_output
        from sr.predict import predict_file
        from sr.zoo import resolve_model

        model_path, how = resolve_model(model, guided_input=ndvi is not None)
        check_output(output, [model_path, lst, ndvi])
        if output.suffix.lower() not in (".tif", ".tiff", ".nc", ".nc4", ".netcdf"):
            raise InputError("output must end in .tif/.tiff (GeoTIFF) or .nc (NetCDF)", output)
        if overlap >= tile or overlap < 0 or tile < 1:
            raise InputError(f"--overlap ({overlap}) must lie in [0, --tile ({tile}))")
        if blend not in ("cosine", "linear"):
            raise InputError(f"--blend must be cosine or linear, got {blend!r}")
        if realisations < 0:
            raise InputError(f"--realisations must be >= 0, got {realisations}")
        out = predict_file(
            model_path,  # loaded after the inputs are read and checked, moved to --device
            lst,
            output,
            ndvi_path=ndvi,
            band=band,
            units=units,
            nodata=nodata,
            scale=scale,
            offset=offset,
            crs=crs,
            ndvi_scale=ndvi_scale,
            tile=tile,
            overlap=overlap,
            blend=blend,
            batch_size=batch_size,
            device=device,
            uncertainty=uncertainty,
            realisations=realisations,
            law=law,
            seed=seed,
        )
        if model is None or model_path != Path(model):
            typer.echo(how, err=True)  # the default (or a shipped name) was used: say which
        typer.echo(str(out))

    @app.command("produce")
    def produce_cmd(
        inputs: Annotated[list[str], typer.Argument(help="MODIS LST granules (MOD11A1/MYD11A1/MOD21A1D/N, HDF4 or GeoTIFF): files, folders (searched recursively) or quoted glob patterns.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: granules/*.250m.tif, the cube lst_250m.nc, summary.json.")],
        model: Annotated[str | None, typer.Option("--model", "-m", help="A shipped model's name, a model file or a checkpoint; default: the shipped default (the single-image default without --ndvi).")] = None,
        ndvi: Annotated[list[str] | None, typer.Option("--ndvi", help="NDVI guide: one static file, or folders/globs of MOD13Q1/MOD13A2/MOD09GQ products matched by date (repeatable).")] = None,
        which: Annotated[str, typer.Option("--which", help="day, night or both.")] = "day",
        qc: Annotated[str, typer.Option("--qc", help="MODIS QC policy: good (mandatory QA 00) or any (00 or 01).")] = "good",
        min_clear: Annotated[float, typer.Option("--min-clear", help="Skip granules with a smaller fraction of clear (kept) pixels.")] = 0.2,
        ndvi_max_days: Annotated[float, typer.Option("--ndvi-max-days", help="Without a composite that contains the date, use the nearest one within this many days (else skip).")] = 16.0,
        uncertainty: Annotated[bool, typer.Option("--uncertainty", help="Also write the calibrated uncertainty in K (band 2, cube variable lst_<which>_std): the model's floor, ensemble spread and local-gradient terms.")] = False,
        cube: Annotated[bool, typer.Option("--cube/--no-cube", help="Assemble the time-stacked NetCDF cube.")] = True,
        cube_crs: Annotated[str | None, typer.Option("--cube-crs", help="CRS of the cube (default: the granules' own grid).")] = None,
        cube_resolution: Annotated[float | None, typer.Option("--cube-resolution", help="Pixel size of the cube in --cube-crs units.")] = None,
        workers: Annotated[int, typer.Option("--workers", help="Worker processes of the LocalCluster.")] = 1,
        threads: Annotated[int, typer.Option("--threads", help="torch threads per worker.")] = 1,
        memory_limit: Annotated[str | None, typer.Option("--memory-limit", help="Memory per worker, e.g. 2GiB (default: dask's auto).")] = None,
        scheduler: Annotated[str | None, typer.Option("--scheduler", help="Address of a running dask scheduler (tcp://host:8786), or 'none' to run in this process; default: a new LocalCluster.")] = None,
        device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:1...")] = "auto",
        tile: Annotated[int, typer.Option("--tile", help="Tile size in input pixels.")] = 64,
        overlap: Annotated[int, typer.Option("--overlap", help="Tile overlap in input pixels.")] = 8,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")] = 8,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Start afresh in a folder that holds a run with other settings.")] = False,
    ) -> None:
        """Super-resolve every granule of a season: one COG per granule and a CF cube, resumable, on dask.

        A rerun into the same folder skips the granules already done; granules with too few
        clear pixels or no matching NDVI are skipped and listed in summary.json.
        """
        from sr.produce import ProduceSettings, model_is_guided, produce
        from sr.zoo import resolve_model

        whiches = {"day": ("day",), "night": ("night",), "both": ("day", "night")}
        if which not in whiches:
            raise InputError(f"--which must be day, night or both, got {which!r}")
        if qc not in ("good", "any"):
            raise InputError(f"--qc must be good or any, got {qc!r}")
        if not 0.0 <= min_clear <= 1.0:
            raise InputError(f"--min-clear must lie in [0, 1], got {min_clear}")
        if overlap >= tile or overlap < 0 or tile < 1:
            raise InputError(f"--overlap ({overlap}) must lie in [0, --tile ({tile}))")
        if workers < 1 or threads < 1:
            raise InputError("--workers and --threads must be at least 1")
        model_path, how = resolve_model(model, guided_input=bool(ndvi))
        guided = model_is_guided(model_path)
        if ndvi and not guided:
            log.warning("the model %s takes no guide: --ndvi is ignored", model_path)
        settings = ProduceSettings(
            model=str(model_path), guided=guided, which=whiches[which], qc=qc, min_clear=min_clear,
            ndvi_max_days=ndvi_max_days, uncertainty=uncertainty, tile=tile, overlap=overlap,
            batch_size=batch_size, device=device, threads=threads)
        typer.echo(how, err=True)
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            # dask.distributed logs every worker's start and stop at INFO: keep the output short
            for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
                logging.getLogger(name).setLevel(logging.WARNING)
        summary = produce(inputs, output, settings, ndvi=ndvi or None, scheduler=scheduler,
                          workers=workers, memory_limit=memory_limit, cube=cube, cube_crs=cube_crs,
                          cube_resolution=cube_resolution, overwrite=overwrite)
        for s in summary["skipped"]:
            typer.echo(f"skipped: {s['input']} ({s['which']}): {s['reason']}", err=True)
        typer.echo(f"{summary['done']} of {summary['granules']} granule(s) produced, "
                   f"{len(summary['skipped'])} skipped, {len(summary['failed'])} failed; "
                   f"summary: {output / 'summary.json'}", err=True)
        if summary["cube"]:
            typer.echo(summary["cube"])
        if summary["failed"]:
            for s in summary["failed"]:
                typer.echo(f"error: {s['input']} ({s['which']}): {s['reason']}", err=True)
            raise typer.Exit(2)
