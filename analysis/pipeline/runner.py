"""The one step runner of the workflow: the demo and the benchmark are lists of steps run by it.

A step is a function ``step(ctx, out, progress) -> list of files written`` of a module
``analysis/pipeline/step_<name>.py``; it reads the :class:`~analysis.pipeline.context.Context`
(and what earlier steps left in it) and writes its files into ``out``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from analysis.pipeline.context import Context

log = logging.getLogger(__name__)

__all__ = ["Step", "run_steps"]

#: A step of the workflow: ``(ctx, out, progress) -> files written``.
Step = Callable[[Context, Path, bool], list[Path]]


def run_steps(steps: Mapping[str, Step], order: Sequence[str], ctx: Context, out: Path, *,
              progress: bool = False, desc: str = "steps") -> dict[str, Path]:
    """Run the named steps in ``order`` on one context; time each one.

    Parameters
    ----------
    steps
        ``name -> step function`` (the workflow's registry).
    order
        Names to run, in order.
    ctx
        The run's context; ``ctx.step_seconds[name]`` receives each step's wall time.
    out
        Output folder of the run.
    progress
        Show a progress bar over the steps (and let the steps show theirs).
    desc
        Label of the progress bar.

    Returns
    -------
    dict
        ``file name -> path`` of every file the steps wrote.

    """
    written: dict[str, Path] = {}
    bar = tqdm(list(order), desc=desc, disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        t1 = time.perf_counter()
        for p in steps[name](ctx, out, progress):
            written[p.name] = p
        ctx.step_seconds[name] = round(time.perf_counter() - t1, 1)
        log.info("step %s done in %.1f s", name, ctx.step_seconds[name])
    return written
