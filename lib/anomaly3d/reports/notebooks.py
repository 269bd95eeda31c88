"""The paired notebooks: drift checks, syncing, and running one with papermill.

Every notebook is a jupytext pair: ``notebooks/NN_name.py`` (percent format, the half you edit) and
``notebooks/NN_name.ipynb`` (kept in sync, committed with outputs of a smoke-profile run so that nbval has the
reference outputs of the cells holding a line ``# NBVAL_CHECK_OUTPUT``: a comment line of its own, which is
the only form nbval recognises; a trailing comment after code is ignored).

Command line::

    python -m anomaly3d.reports.notebooks check            # exit 1 and say how to fix if a pair drifted
    python -m anomaly3d.reports.notebooks sync [NAME ...]  # .py -> .ipynb, re-executed on the smoke profile
    python -m anomaly3d.reports.notebooks sync --no-execute NAME
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from anomaly3d.atomic import atomic_path

__all__ = [
    "KERNEL_NAME",
    "NOTEBOOK_DIR",
    "list_notebooks",
    "pair_problems",
    "run_notebook",
    "sync_notebook",
]

NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "notebooks"
KERNEL_NAME = "python3"
"""The kernel papermill and the sync command use; in a virtualenv it resolves to that env's interpreter."""
_PARAMETERS_TAG = "parameters"


def list_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The ``.py`` halves of all notebook pairs, sorted by name."""
    return sorted(p for p in directory.glob("[0-9][0-9]_*.py"))


def _read(path: Path) -> Any:
    import jupytext

    return jupytext.read(path)


def _cell_signature(nb: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(sorted(c.metadata.get("tags", []))))
        for c in nb.cells
        if not (c.cell_type == "markdown" and not c.source.strip())
    ]


def pair_problems(py_path: Path) -> list[str]:
    """Everything wrong with one notebook pair, each as a sentence that says how to fix it."""
    py_path = Path(py_path)
    ipynb = py_path.with_suffix(".ipynb")
    fix = f"run `python -m anomaly3d.reports.notebooks sync {py_path.stem}` (or `jupytext --sync {py_path}`)"
    problems: list[str] = []
    if not ipynb.exists():
        return [f"{ipynb} is missing: {fix}"]
    py_nb, ipy_nb = _read(py_path), _read(ipynb)
    a, b = _cell_signature(py_nb), _cell_signature(ipy_nb)
    if a != b:
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        problems.append(
            f"{ipynb.name} has drifted from {py_path.name} (first difference at cell {first}; "
            f"{len(a)} vs {len(b)} cells): {fix}"
        )
    problems.extend(_parameter_cell_problems(py_nb, py_path))
    if not problems:
        problems.extend(_papermill_problems(ipynb, py_nb))
    return problems


def _papermill_problems(ipynb: Path, nb: Any) -> list[str]:
    """Papermill must see every declared parameter (a comment it cannot parse hides one from it)."""
    import papermill as pm

    from anomaly3d.reports.notebook import _assigned_names

    code = [c for c in nb.cells if c.cell_type == "code"]
    declared = _assigned_names(code[0].source) or []
    seen = list(pm.inspect_notebook(str(ipynb)))
    hidden = [name for name in declared if name not in seen]
    if hidden:
        return [(f"{ipynb.name}: papermill cannot parse the parameter line(s) of {hidden}; keep comments on those "
                "lines free of quotes and '='")]
    return []


def _parameter_cell_problems(nb: Any, path: Path) -> list[str]:
    from anomaly3d.reports.notebook import REQUIRED_PARAMETERS, _assigned_names

    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or _PARAMETERS_TAG not in code[0].metadata.get("tags", []):
        return [f"{path.name}: the first code cell must be tagged 'parameters' (`# %% tags=[\"parameters\"]`)"]
    names = _assigned_names(code[0].source)
    if names is None:
        return [f"{path.name}: the parameters cell must hold plain `name = value` assignments only"]
    missing = [p for p in REQUIRED_PARAMETERS if p not in names]
    if missing:
        return [f"{path.name}: the parameters cell must assign {missing}"]
    return []


def _execute(nb: Any, cwd: Path, env: Mapping[str, str], timeout: int) -> Any:
    from nbclient import NotebookClient

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def sync_notebook(py_path: Path, *, execute: bool = True, timeout: int = 600) -> Path:
    """Write ``py_path``'s ``.ipynb`` twin; with ``execute`` the outputs come from a smoke-profile run."""
    import jupytext

    py_path = Path(py_path)
    nb = _read(py_path)
    if execute:
        env = {  # inline figures even when the caller (e.g. the test suite) draws off-screen with Agg
            "ANOMALY3D_PROFILE": "smoke",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "ANOMALY3D_PROGRESS": "0",
        }
        nb = _execute(nb, py_path.parent, env, timeout)
    nb.metadata.setdefault("kernelspec", {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    out = py_path.with_suffix(".ipynb")
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        jupytext.write(nb, fh, fmt="ipynb")
    return out


def run_notebook(
    py_path: Path,
    output_ipynb: Path,
    parameters: Mapping[str, Any],
    *,
    cwd: Path | None = None,
    progress: bool = False,
    log_path: Path | None = None,
) -> Path:
    """Execute the ``.py`` half of a notebook with papermill (kernel named explicitly) and save the result.

    The executed notebook is written to a temporary name and renamed at the end, so a failed run leaves the
    previous output in place; papermill still saves the failing notebook next to it as ``*.failed.ipynb``.
    With ``log_path``, each cell's start and the kernel's output (progress bars included) are appended to that
    file as the notebook runs (``tail -f`` it to follow a long job).
    """
    import logging

    import papermill as pm

    py_path = Path(py_path)
    nb = _read(py_path)
    output_ipynb = Path(output_ipynb)
    output_ipynb.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_ipynb.with_name(f".{output_ipynb.stem}.running.ipynb")
    handler = None
    if log_path is not None:
        handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logging.getLogger("papermill").addHandler(handler)
        logging.getLogger("papermill").setLevel(logging.INFO)
    try:
        pm.execute_notebook(
            nb,
            str(tmp),
            parameters=dict(parameters),
            kernel_name=KERNEL_NAME,
            cwd=str(cwd or py_path.parent),
            progress_bar=progress,
            log_output=log_path is not None,
        )
    except Exception:
        if tmp.exists():
            os.replace(tmp, output_ipynb.with_suffix(".failed.ipynb"))
        raise
    finally:
        if handler is not None:
            logging.getLogger("papermill").removeHandler(handler)
            handler.close()
    os.replace(tmp, output_ipynb)
    return output_ipynb


def _select(names: Sequence[str]) -> list[Path]:
    all_nbs = list_notebooks()
    if not names:
        return all_nbs
    chosen = []
    for name in names:
        match = [p for p in all_nbs if p.stem == name or p.name == name or p.stem.startswith(name)]
        if not match:
            raise SystemExit(f"no notebook matches {name!r}; notebooks: {', '.join(p.stem for p in all_nbs)}")
        chosen.extend(match)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anomaly3d.reports.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="report notebook pairs that drifted")
    s = sub.add_parser("sync", help="write the .ipynb of each notebook from its .py")
    s.add_argument("names", nargs="*")
    s.add_argument("--no-execute", action="store_true", help="copy inputs only (outputs are dropped)")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        problems = [p for nb in list_notebooks() for p in pair_problems(nb)]
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    for nb in _select(args.names):
        out = sync_notebook(nb, execute=not args.no_execute)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
