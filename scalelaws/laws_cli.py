"""``scalelaws laws fit|show``: fit a correction law on high-resolution scenes and inspect it.

Examples
--------
Fit one law on the 40 ASTER 250 m fields (folders are searched recursively with ``--pattern``)::

    scalelaws laws fit ../shared/data/modis_aster/pairs --pattern 'aster_lst_250m.tif' -o law.nc

Per NDVI landscape (NDVI on another grid is re-projected bilinearly onto each LST grid)::

    scalelaws laws fit a.tif b.tif --ndvi a_ndvi.tif --ndvi b_ndvi.tif --by-landscape -o law.nc

Show it::

    scalelaws laws show law.nc --figure law.png

"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from scalelaws.commands import (
    ChunkOpt,
    CrsOpt,
    MemoryOpt,
    NdviScaleOpt,
    NodataOpt,
    OffsetOpt,
    ScaleOpt,
    UnitsOpt,
    check_field,
    check_scale_range,
    parse_q,
    reader_options,
    same_grid,
)

log = logging.getLogger(__name__)

__all__ = ["register"]


def _expand(paths: list[Path], pattern: str) -> list[Path]:
    from scalelaws.errors import InputError, NotARasterError

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob(pattern) if f.is_file())
            if not found:
                raise InputError(f"no file matching {pattern!r} in this folder", p)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise NotARasterError("no such file or folder", p)
    return out


def _on_grid(ndvi, lst):
    """NDVI on the LST grid: unchanged when the grids match, else re-projected (bilinear)."""
    if same_grid(ndvi, lst):
        return ndvi
    from scalelaws.grids import align

    log.info("re-projecting NDVI %s onto the LST grid %s", ndvi.shape, lst.shape)
    return align(ndvi, lst, resampling="bilinear")


def _ndvi_classes(ndvi, lst):
    """NDVI classes of the NDVI on the LST grid (``CorrectionLaw.fit(classes="ndvi")``)."""
    from scalelaws.landscapes import classify_ndvi

    return classify_ndvi(_on_grid(ndvi, lst))


def register(app: typer.Typer) -> None:
    """Add the ``laws`` sub-app (``fit``, ``show``) to ``app``."""
    laws = typer.Typer(
        help="Correction laws: how the statistics change from one scale band to the next.",
        no_args_is_help=True,
    )

    @laws.command("fit")
    def fit(
        scenes: Annotated[list[Path], typer.Argument(help="High-resolution LST rasters or folders.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="Output law (NetCDF).")],
        ndvi: Annotated[list[Path] | None, typer.Option("--ndvi", help="NDVI raster per scene (repeat; same order as the scenes).")] = None,
        by_landscape: Annotated[bool, typer.Option("--by-landscape", help="One law per landscape (NDVI classes or --landcover).")] = False,
        landcover: Annotated[Path | None, typer.Option("--landcover", help="Land-cover raster (re-projected nearest onto each scene).")] = None,
        pattern: Annotated[str, typer.Option(help="File pattern searched in folders.")] = "*.tif",
        q: Annotated[str, typer.Option("--q", help="Orders, comma-separated.")] = "1,2,3,4",
        scale_range: Annotated[tuple[float, float] | None, typer.Option("--range", help="Scale range MIN_M MAX_M of the law (default: 1 px to 1/5 scene).")] = None,
        n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 100,
        degree: Annotated[int, typer.Option(help="Degree of the smoothing polynomial in log-scale.")] = 3,
        seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
        units: UnitsOpt = None,
        scale: ScaleOpt = None,
        offset: OffsetOpt = None,
        nodata: NodataOpt = None,
        crs: CrsOpt = None,
        ndvi_scale: NdviScaleOpt = None,
        chunk_size: ChunkOpt = None,
        memory_limit: MemoryOpt = None,
    ) -> None:
        """Fit a correction law on high-resolution LST scenes and write it as NetCDF."""
        from scalelaws.errors import InputError, naming
        from scalelaws.io import open_lst, open_ndvi
        from scalelaws.io.atomic import check_output
        from scalelaws.landscapes import classes_from_landcover, classify_ndvi
        from scalelaws.laws import CorrectionLaw

        qs = parse_q(q)
        scale_range = check_scale_range(scale_range)
        files = _expand(list(scenes), pattern)
        nd_files = _expand(list(ndvi), pattern) if ndvi else []
        if nd_files and len(nd_files) != len(files):
            raise InputError(f"{len(nd_files)} NDVI file(s) for {len(files)} scene(s): give one "
                             "--ndvi per scene, in the same order")
        if by_landscape and landcover is None and not nd_files:
            raise InputError("--by-landscape needs --ndvi (NDVI classes) or --landcover")
        check_output(output, [*scenes, *files, *nd_files, landcover])
        opts = reader_options(units, scale, offset, nodata, crs)
        from scalelaws.stats import chunked

        if memory_limit is not None:
            chunked.parse_memory(memory_limit)
        lst = []
        blockwise: dict[int, chunked.RasterSource] = {}
        for i, f in enumerate(files):
            with naming(f):
                source = chunked.chunked_source(f, kind="lst", chunk=chunk_size,
                                                memory_limit=memory_limit, **opts)
            if source is not None:
                be = chunked.ChunkedBackend(source, chunk=chunk_size,
                                            memory=chunked.memory_budget(memory_limit))
                lst.append(be.field(None))  # checks the field block by block; stays lazy
                blockwise[i] = source
                continue
            da = open_lst(f, **opts)
            check_field(da, f)
            lst.append(da)
        # scenes read block by block: NDVI and classes placed on each LST window
        nd_src: dict[int, chunked.PlacedSource] = {}
        cls_src: dict[int, chunked.PlacedSource] = {}
        nd = None
        if nd_files:
            nd = []
            for i, (f, s) in enumerate(zip(nd_files, lst, strict=True)):
                if i in blockwise:
                    nd_src[i] = chunked.PlacedSource(chunked.ndvi_window_source(f, ndvi_scale),
                                                     blockwise[i], _on_grid)
                    nd.append(chunked.lazy_field(nd_src[i], 2048))
                else:
                    nd.append(_on_grid(open_ndvi(f, scale=ndvi_scale), s))
        classes = None
        if by_landscape:
            if landcover is not None:
                for i in blockwise:
                    cls_src[i] = chunked.landcover_source(landcover, blockwise[i])
            elif blockwise:
                for i in blockwise:
                    cls_src[i] = chunked.PlacedSource(nd_src[i].other, blockwise[i],
                                                      _ndvi_classes, dtype=np.int16)
            if cls_src or landcover is not None:
                classes = [chunked.lazy_field(cls_src[i], 2048, dtype=np.int16) if i in cls_src
                           else classes_from_landcover(landcover, like=s) if landcover is not None
                           else classify_ndvi(nd[i]) for i, s in enumerate(lst)]
            else:
                classes = "ndvi"
        # errors on the fitted data name the scene when there is one
        with naming(files[0] if len(files) == 1 else None):
            law = CorrectionLaw.fit(
                lst,
                ndvi=nd,
                classes=classes,
                q=qs,
                scales_m=scale_range,
                n_boot=n_boot,
                degree=degree,
                rng=seed,
                sources=[str(f) for f in files],
                scene_sums=chunked.law_scene_sums(
                    blockwise, classes=cls_src, ndvi=nd_src, chunk=chunk_size,
                    memory=memory_limit) if blockwise else None,
            )
        law.to_netcdf(output)
        typer.echo(law.summary())
        typer.echo(f"wrote {output}")

    @laws.command("show")
    def show(
        law_path: Annotated[Path, typer.Argument(help="A law written by 'scalelaws laws fit'.")],
        figure: Annotated[Path | None, typer.Option("--figure", help="Write the law curves here.")] = None,
    ) -> None:
        """Print a law's summary table (and draw its curves)."""
        from scalelaws.io.atomic import atomic_path, check_output
        from scalelaws.laws import load_law

        if figure is not None:
            check_output(figure, [law_path])
        law = load_law(law_path)
        typer.echo(law.summary())
        if figure is not None:
            import matplotlib

            matplotlib.use("Agg")
            fig = law.plot()
            with atomic_path(figure) as tmp:
                fig.savefig(tmp, dpi=150)
            typer.echo(f"wrote {figure}")

    app.add_typer(laws, name="laws")
