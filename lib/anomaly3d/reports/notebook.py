"""What every notebook calls right after its ``parameters`` cell.

A notebook's first code cell is tagged ``parameters`` and holds plain assignments only (papermill overrides
them by injecting a cell after it). The next cell calls :func:`setup`, which

* rejects parameters the notebook does not declare (papermill itself only warns about those) and lists the
  valid ones,
* validates every value (profile, dataset, device, seed, data_root, output_dir),
* resolves ``"auto"`` values, seeds everything, creates the output folder,

and returns a :class:`NotebookRun` that the rest of the notebook uses.

``profile = "auto"`` resolves to ``$ANOMALY3D_PROFILE`` when it is set (the test suite sets ``smoke``) and to
``quick`` otherwise, so a student opening a notebook on Binder gets the CPU profile and CI the smoke one, with
nothing derived inside the parameters cell.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly3d.data.registry import DATASETS as _DATASET_MODULES
from anomaly3d.data.sample import DataError
from anomaly3d.data.sources import DataSource, check_data_root, describe, open_dataset
from anomaly3d.profiles import PROFILE_NAMES, Profile, get_profile
from anomaly3d.runtime import resolve_device, seed_everything

if TYPE_CHECKING:
    import torch

__all__ = [
    "DATASETS",
    "REQUIRED_PARAMETERS",
    "NotebookParameterError",
    "NotebookRun",
    "resolve_profile_name",
    "setup",
]

REQUIRED_PARAMETERS: tuple[str, ...] = ("profile", "dataset", "data_root", "device", "seed", "output_dir")
"""Every notebook's parameters cell assigns at least these."""

DATASETS: tuple[str, ...] = tuple(_DATASET_MODULES)
"""Dataset ids a notebook may be pointed at (the embedded benchmark stands in when ``data_root`` is None)."""

PROFILE_ENV = "ANOMALY3D_PROFILE"
_INJECTED_MARKER = "# Parameters"  # first line of the cell papermill injects


class NotebookParameterError(ValueError):
    """A papermill/notebook parameter is unknown or has an invalid value; the message lists the valid ones."""


def resolve_profile_name(profile: str) -> str:
    """``"auto"`` → ``$ANOMALY3D_PROFILE`` or ``"quick"``; any other name must be a defined profile."""
    if profile == "auto":
        profile = os.environ.get(PROFILE_ENV, "quick") or "quick"
        where = f" (from ${PROFILE_ENV})"
    else:
        where = ""
    if profile not in PROFILE_NAMES:
        valid = ", ".join(repr(p) for p in ("auto", *PROFILE_NAMES))
        raise NotebookParameterError(f"unknown profile {profile!r}{where}; valid profiles are {valid}")
    return profile


@dataclass
class NotebookRun:
    """The resolved parameters of one notebook run."""

    notebook: str
    profile: Profile
    dataset: str
    data_root: Path | None
    device: torch.device
    seed: int
    output_dir: Path
    rng: np.random.Generator
    extra: dict[str, Any] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)

    @property
    def uses_embedded_data(self) -> bool:
        """True when no real dataset was given and the embedded synthetic benchmark stands in."""
        return self.data_root is None

    @property
    def data_source(self) -> str:
        """A one-line description of the data, for every table's provenance column."""
        return describe(self.dataset, self.data_root, profile=self.profile.name, seed=self.seed)

    def open_data(self, dataset: str | None = None) -> DataSource:
        """The run's dataset (or ``dataset`` in the embedded benchmark), generated on first use if embedded."""
        if dataset is not None and dataset != self.dataset:
            return open_dataset(dataset, None, profile=self.profile.name, seed=self.seed)
        return open_dataset(self.dataset, self.data_root, profile=self.profile.name, seed=self.seed)

    def provenance(self) -> dict[str, Any]:
        """What produced this run's numbers: written next to every result file."""
        return {
            "notebook": self.notebook,
            "profile": self.profile.name,
            "dataset": self.dataset,
            "data_source": self.data_source,
            "embedded_data": self.uses_embedded_data,
            "device": str(self.device),
            "seed": self.seed,
            **self.extra,
        }

    def write_json(self, name: str, payload: Mapping[str, Any]) -> Path:
        """Write ``payload`` plus this run's provenance to ``output_dir/name`` atomically."""
        from anomaly3d.atomic import atomic_write_text

        data = {"provenance": self.provenance(), **payload}
        return atomic_write_text(self.output_dir / name, json.dumps(data, indent=2, sort_keys=True, default=str))

    def write_table(self, name: str, table: Any, *, floatfmt: str = ".3f", title: str | None = None) -> Path:
        """Write a pandas DataFrame as ``name.csv`` and ``name.md`` (with a provenance line) atomically."""
        from anomaly3d.reports.files import write_table

        csv_path, _ = write_table(
            self.output_dir / name, table, provenance=self.provenance(), floatfmt=floatfmt, title=title
        )
        self.tables.append(name)
        return csv_path

    def finish(self, **summary: Any) -> Path:
        """Write ``result.json`` (provenance, tables written, ``summary`` values): the job's done-marker."""
        return self.write_json("result.json", {"tables": sorted(set(self.tables)), "summary": summary})


def _declared_and_injected(namespace: Mapping[str, Any]) -> tuple[list[str] | None, list[str]]:
    """Parameter names declared by the notebook's ``parameters`` cell and names papermill injected.

    Read from IPython's input history (``In``): the injected cell starts with ``# Parameters``; the declared
    cell is the last cell before it whose assignments include ``profile``. Outside IPython (``python nb.py``)
    nothing can be injected and ``(None, [])`` is returned.
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return None, []
    cells = [c for c in history if isinstance(c, str) and c.strip()]
    injected_idx = [i for i, c in enumerate(cells) if c.lstrip().startswith(_INJECTED_MARKER)]
    declared: list[str] | None = None
    stop = injected_idx[-1] if injected_idx else len(cells)
    for cell in reversed(cells[:stop]):
        names = _assigned_names(cell)
        if names is not None and "profile" in names:
            declared = names
            break
    injected: list[str] = []
    if injected_idx:
        injected = _assigned_names(cells[injected_idx[-1]]) or []
    return declared, injected


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _assigned_names(source: str) -> list[str] | None:
    """Names bound by top-level ``name = <literal>`` statements, or None if the cell is anything else."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            if not _is_literal(node.value):
                return None
            names.extend(t.id for t in node.targets)  # type: ignore[union-attr]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None and not _is_literal(node.value):
                return None
            names.append(node.target.id)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring / comment string
        else:
            return None
    return names


def setup(notebook: str, namespace: Mapping[str, Any], **extra_defaults: Any) -> NotebookRun:
    """Validate and resolve a notebook's parameters (see the module docstring).

    Args:
        notebook: the notebook's name (e.g. ``"00_tour"``); used for the default output folder.
        namespace: the notebook's ``globals()``.
        **extra_defaults: unused; reserved so calls stay stable as notebooks grow.

    Raises:
        NotebookParameterError: unknown parameter names, a missing required parameter, or an invalid value.
    """
    declared, injected = _declared_and_injected(namespace)
    if declared is not None:
        unknown = sorted(set(injected) - set(declared))
        if unknown:
            raise NotebookParameterError(
                f"notebook {notebook!r} got unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"valid parameters are {', '.join(map(repr, declared))}"
            )
    missing = [p for p in REQUIRED_PARAMETERS if p not in namespace]
    if missing:
        raise NotebookParameterError(f"notebook {notebook!r}: the parameters cell must assign {missing}")

    profile = get_profile(resolve_profile_name(str(namespace["profile"])))
    dataset = namespace["dataset"]
    if dataset not in DATASETS:
        raise NotebookParameterError(
            f"unknown dataset {dataset!r}; valid datasets are {', '.join(map(repr, DATASETS))}"
        )
    data_root = namespace["data_root"]
    if data_root is not None:
        try:
            data_root = check_data_root(dataset, data_root)
        except DataError as err:
            raise NotebookParameterError(str(err)) from None
    seed = namespace["seed"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NotebookParameterError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        device = resolve_device(namespace["device"])
    except (RuntimeError, ValueError) as err:
        raise NotebookParameterError(f"invalid device {namespace['device']!r}: {err}") from None
    output_dir = namespace["output_dir"]
    output_dir = Path(output_dir) if output_dir is not None else Path("_outputs") / notebook
    output_dir = output_dir.expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)

    rng = seed_everything(int(seed))
    return NotebookRun(
        notebook=notebook,
        profile=profile,
        dataset=dataset,
        data_root=data_root,
        device=device,
        seed=int(seed),
        output_dir=output_dir,
        rng=rng,
    )
