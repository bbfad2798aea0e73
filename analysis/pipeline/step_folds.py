"""Step ``folds`` (benchmark): the pairs of the run and their cross-fitting folds.

The split policy is :func:`analysis.pipeline.context.make_folds` (sorted ids, rank ``i`` in
fold ``i % k``), the same the demo uses on real data (law on fold 0, scores on fold 1).
"""

from __future__ import annotations

import logging
from pathlib import Path

from analysis.pipeline.context import Context, make_folds

log = logging.getLogger(__name__)

__all__ = ["step_folds"]


def step_folds(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Split ``ctx.ids`` into ``ctx.settings.folds`` folds (``ctx.folds``); writes no file."""
    ctx.folds = make_folds(ctx.ids, ctx.settings.folds)
    log.info("%d folds over %d pairs: %s", len(ctx.folds), len(ctx.ids), ctx.folds)
    return []
