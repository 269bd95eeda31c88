"""``python -m anomaly3d.reports run``: regenerate ``reports/`` with the Snakemake workflow.

Examples::

    python -m anomaly3d.reports run                          # quick profile, embedded data, 2 cores
    python -m anomaly3d.reports run --profile smoke --cores 1
    python -m anomaly3d.reports run --data-root mvtec3d-ad=/data/mvtec3d   # use a real dataset where a job can
    python -m anomaly3d.reports run -- --dry-run              # anything after -- goes to snakemake
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from anomaly3d.profiles import PROFILE_NAMES
from anomaly3d.reports.jobs import REPO_ROOT

SNAKEFILE = Path(__file__).resolve().parent / "workflow" / "Snakefile"


def _data_roots(items: Sequence[str]) -> dict[str, str]:
    from anomaly3d.reports.notebook import DATASETS

    roots = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in DATASETS:
            raise SystemExit(f"--data-root takes DATASET=PATH with DATASET one of {', '.join(DATASETS)}; got {item!r}")
        if not Path(path).expanduser().is_dir():
            raise SystemExit(f"--data-root {item!r}: {path!r} is not a folder")
        roots[name] = str(Path(path).expanduser().resolve())
    return roots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anomaly3d.reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the workflow (only stale jobs rerun)")
    run.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--cores", type=int, default=2)
    run.add_argument("--data-root", action="append", default=[], metavar="DATASET=PATH")
    run.add_argument("snakemake_args", nargs=argparse.REMAINDER, help="extra snakemake arguments after --")
    args = parser.parse_args(argv)

    extra = [a for a in args.snakemake_args if a != "--"]
    config = {"profile": args.profile, "seed": args.seed, "data_roots": _data_roots(args.data_root)}
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(REPO_ROOT),
        "--cores", str(args.cores),
        "--config", *(f"{k}={json.dumps(v)}" for k, v in config.items()),
        "--rerun-incomplete",
        "--printshellcmds",
        *extra,
    ]
    print("[reports] " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=REPO_ROOT)
    index = REPO_ROOT / "reports" / "README.md"
    if rc == 0:
        print(f"[reports] done: {index}")
    else:
        print(f"[reports] snakemake failed (exit {rc}); each job's log is reports/runs/{args.profile}/<job>/log.txt",
              file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
