"""Command line of the embedded benchmark.

``python -m anomaly3d.data.synthetic <format> <out> [--profile quick] [--seed 0] [--categories a,b]``
    writes one format (``anomaly-shapenet``, ``real3d-ad``, ``mvtec3d-ad``) to ``<out>``.

``python -m anomaly3d.data.synthetic figures <out_dir> [--profile quick] [--seed 0] [--cache-dir DIR]``
    makes sure the three formats are cached (:func:`~anomaly3d.data.synthetic.ensure_benchmark`), writes the
    example grid ``synthetic_examples.png`` and the FPFH nearest-neighbour baseline ``fpfh_baseline.csv``
    (point AUROC per format and defect type) into ``<out_dir>``, and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from anomaly3d.data.io import atomic_path
from anomaly3d.profiles import PROFILE_NAMES

__all__ = ["main"]


def _figures(args: argparse.Namespace) -> int:
    from anomaly3d.data.synthetic.baseline import fpfh_baseline
    from anomaly3d.data.synthetic.benchmark import FORMATS, ensure_benchmark
    from anomaly3d.data.synthetic.figures import example_grid

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    roots = {fmt: ensure_benchmark(fmt, args.profile, args.seed, args.cache_dir) for fmt in FORMATS}
    grid = example_grid(roots, out / "synthetic_examples.png", category=args.category)
    print(f"wrote {grid}")
    if args.no_baseline:
        return 0
    rows = [row for fmt, root in roots.items() for row in fpfh_baseline(fmt, root)]
    path = out / "fpfh_baseline.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "format",
                "defect_type",
                "point_auroc",
                "n_samples",
                "n_points",
                "anomalous_points",
                "profile",
                "seed",
            ]
        )
        for r in rows:
            w.writerow(
                [
                    r.format,
                    r.defect_type,
                    f"{r.point_auroc:.4f}",
                    r.n_samples,
                    r.n_points,
                    r.anomalous_points,
                    args.profile,
                    args.seed,
                ]
            )
    print(f"wrote {path}")
    print(f"{'format':18s} {'defect type':15s} point AUROC")
    for r in rows:
        print(f"{r.format:18s} {r.defect_type:15s} {r.point_auroc:.3f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (also the ``anomaly3d-synthetic`` console script); returns the exit code."""
    from anomaly3d.data.synthetic.benchmark import FORMATS

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "figures":
        p = argparse.ArgumentParser(
            prog="python -m anomaly3d.data.synthetic figures",
            description="example grid + FPFH baseline of the embedded benchmark",
        )
        p.add_argument("out", help="folder for synthetic_examples.png and fpfh_baseline.csv")
        p.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--cache-dir", default=None, help="benchmark cache (default: $ANOMALY3D_CACHE/synthetic)"
        )
        p.add_argument("--category", default=None, help="take every example from this category")
        p.add_argument("--no-baseline", action="store_true", help="only draw the grid")
        return _figures(p.parse_args(argv[1:]))
    p = argparse.ArgumentParser(
        prog="python -m anomaly3d.data.synthetic",
        description="write the embedded synthetic benchmark in a real dataset's format "
        "(or: 'figures <out_dir>')",
    )
    p.add_argument("format", choices=FORMATS)
    p.add_argument("out", help="dataset root to create (replaced if it holds an earlier benchmark)")
    p.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--categories", default=None, help="comma-separated shape categories (default: the profile's)"
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (results do not depend on it)")
    args = p.parse_args(argv)
    from anomaly3d.data.synthetic.benchmark import generate

    cats = [c for c in args.categories.split(",") if c] if args.categories else None
    try:
        root = generate(args.format, args.out, args.profile, args.seed, cats, workers=args.workers)
    except ValueError as exc:
        p.error(str(exc))
    print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
