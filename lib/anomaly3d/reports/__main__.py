"""``python -m anomaly3d.reports run``: regenerate ``reports/`` with the Snakemake workflow.

Examples::

    python -m anomaly3d.reports run                          # quick profile, embedded data, 2 cores
    python -m anomaly3d.reports run --profile smoke --cores 1
    python -m anomaly3d.reports run --data-root mvtec3d-ad=/data/mvtec3d   # use a real dataset where a job can
    python -m anomaly3d.reports run -- --dry-run              # anything after -- goes to snakemake
    python -m anomaly3d.reports run --profile paper -- --workflow-profile lib/anomaly3d/reports/workflow/profiles/slurm

Snakemake prints each job as it starts and finishes; inside a job, ``reports/runs/<profile>/<job>/log.txt`` follows
the notebook cell by cell (progress bars included). At the end a summary lists what ran, what was up to date
(cached) and what failed, with the log to read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from anomaly3d.profiles import PROFILE_NAMES
from anomaly3d.reports.jobs import REPO_ROOT, REPORTS_DIR, Job, build_jobs, run_dir

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


def _other_snakemake_running() -> bool:
    """Whether another process runs this workflow (Linux /proc; elsewhere assume yes, to be safe)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"snakemake" in cmdline and str(SNAKEFILE).encode() in cmdline:
            return True
    return False


def _clear_stale_lock(base: list[str]) -> None:
    """An interrupted run (Ctrl-C, a killed terminal) leaves Snakemake's directory lock behind; remove it when no
    other run of this workflow is alive, instead of failing with 'Directory cannot be locked'."""
    locks = REPO_ROOT / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()) and not _other_snakemake_running():
        subprocess.call([*base, "--unlock", "--quiet"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        print("[reports] removed a stale lock left by an interrupted run", flush=True)


def _stamps(jobs: Sequence[Job], profile: str) -> dict[str, float | None]:
    out = {}
    for job in jobs:
        result = run_dir(profile, job.name, REPORTS_DIR) / "result.json"
        out[job.name] = result.stat().st_mtime if result.exists() else None
    return out


def summarize(jobs: Sequence[Job], profile: str, before: dict[str, float | None]) -> tuple[str, int]:
    """The end-of-run summary (ran / cached / failed, with logs) and the number of failed jobs."""
    from anomaly3d.reports.compare import job_runtime

    after = _stamps(jobs, profile)
    lines, failed = [], 0
    for job in jobs:
        rdir = run_dir(profile, job.name, REPORTS_DIR)
        rel = rdir.relative_to(REPO_ROOT)
        if after[job.name] is None:
            failed += 1
            lines.append(f"  FAILED  {job.name:<34} log: {rel}/log.txt")
        elif after[job.name] != before[job.name]:
            t = job_runtime(profile, job.name, REPORTS_DIR)
            lines.append(f"  ran     {job.name:<34} {t:.0f} s" if t is not None else f"  ran     {job.name}")
        else:
            lines.append(f"  cached  {job.name:<34} (up to date)")
    return "\n".join(lines), failed


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
    base = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(REPO_ROOT),
        "--config", *(f"{k}={json.dumps(v)}" for k, v in config.items()),
    ]
    _clear_stale_lock(base)
    cmd = [
        *base,
        "--cores", str(args.cores),
        "--rerun-incomplete",
        "--keep-going",
        "--printshellcmds",
        *extra,
    ]
    jobs = build_jobs(args.profile, args.seed, config["data_roots"])
    before = _stamps(jobs, args.profile)
    print("[reports] " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=REPO_ROOT)
    if any(a in ("-n", "--dry-run", "--dryrun") for a in extra):
        return rc
    summary, failed = summarize(jobs, args.profile, before)
    print(f"[reports] summary ({args.profile} profile, seed {args.seed}):\n{summary}", flush=True)
    index = REPORTS_DIR / "README.md"
    if rc == 0:
        print(f"[reports] done: {index} and {REPORTS_DIR / 'claims.md'}")
    else:
        print(f"[reports] snakemake failed (exit {rc}, {failed} job(s) without results); read the logs above",
              file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
