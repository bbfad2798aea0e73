"""Run every ``benchmarks/bench_*.py`` module's ``main(quick)`` and print a summary of ratios.

Usage: ``python -m benchmarks [--quick] [NAME ...]`` where ``NAME`` selects ``bench_NAME``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
from pathlib import Path

from benchmarks import machine_note


def _modules(names: list[str]) -> list[str]:
    here = Path(__file__).resolve().parent
    found = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if names:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
        missing = wanted - set(found)
        if missing:
            raise SystemExit(f"no benchmark module(s) {sorted(missing)}; have {found}")
        found = [m for m in found if m in wanted]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"# scalelaws benchmarks{' (quick)' if args.quick else ''}: {machine_note()}")
    rows: list[dict] = []
    failed: list[str] = []
    for name in _modules(args.names):
        print(f"\n## {name}")
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
            rows.extend(mod.main(quick=args.quick) or [])
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            traceback.print_exc()
            failed.append(name)
    print("\n## summary (ratio = baseline time / candidate time, same run)")
    print(f"{'benchmark':<46} {'baseline s':>11} {'candidate s':>12} {'ratio':>8}")
    for r in rows:
        ratio = r.get("ratio", r["baseline_s"] / r["candidate_s"])
        print(f"{r['name']:<46} {r['baseline_s']:>11.3f} {r['candidate_s']:>12.3f} {ratio:>7.1f}x")
        print(
            f"    {r['candidate']}  vs  {r['baseline']}"
            + (f"; {r['note']}" if r.get("note") else "")
        )
    print(f"\n# {machine_note()}")
    if failed:
        print(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
