"""Reading the shipped files: ``data/<paper>/tables.toml`` (the catalog) and ``data/<paper>/<id>.csv``.

Two layers: the ``parse_*``/``read_*`` functions never raise for bad content and return the problems they saw
(the validator uses them); the cached ``catalog``/``table_frame`` functions raise :class:`PaperDataError` on
the first problem that stops them from building a result.
"""

from __future__ import annotations

import csv
import importlib
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PAPERS: tuple[str, ...] = ("3d-st", "shape-guided", "imrnet", "group3ad", "po3ad")
"""The paper folders, oldest paper first (WACV 2023, ICML 2023, CVPR 2024, ACM MM 2024, CVPR 2025)."""

DATA_DIR: Path = Path(__file__).resolve().parent / "data"
"""Where the paper folders live. Tests may monkeypatch this to a copy; the caches are keyed on the path."""

HEADER: tuple[str, ...] = ("method", "setting", "category", "metric", "value", "note")
"""The exact header of every table CSV."""

DATASETS: tuple[str, ...] = ("mvtec3d-ad", "real3d-ad", "anomaly-shapenet", "modelnet10", "none", "several")
KINDS: tuple[str, ...] = ("main", "ablation", "timing", "other")
SCALES: tuple[str, ...] = ("fraction", "percent", "seconds", "mb", "count", "other")
TOP_KEYS: tuple[str, ...] = ("paper", "title", "citation", "table")
TABLE_KEYS: tuple[str, ...] = ("id", "label", "caption", "dataset", "kind", "scale", "notes")
OPTIONAL_TABLE_KEYS: tuple[str, ...] = ("extra_categories",)
PSEUDO_CATEGORIES: tuple[str, ...] = ("mean", "all")
"""Categories valid in every table: the printed average (``mean``) and a table without categories (``all``)."""

TABLE_ID_RE = re.compile(r"[a-z0-9_]+")
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
"""A value as printed: plain decimal digits with an optional sign and point (no exponent, '%', ',' or spaces)."""

_FORMAT_MODULES = {
    "mvtec3d-ad": "anomaly3d.data.formats.mvtec3d",
    "real3d-ad": "anomaly3d.data.formats.real3d",
    "anomaly-shapenet": "anomaly3d.data.formats.anomaly_shapenet",
    "modelnet10": "anomaly3d.data.formats.modelnet10",
}


class PaperDataError(ValueError):
    """A shipped CSV/TOML file is malformed; the message names the file (run ``validate()`` for all problems)."""


class UnknownNameError(KeyError, ValueError):
    """An unknown paper, table, metric or setting; the message lists the valid names.

    Subclasses both ``KeyError`` and ``ValueError`` so either ``except`` catches it.
    """

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class PaperTable:
    """One results table of one paper, as described by its ``tables.toml`` entry."""

    paper: str
    """Paper folder name, one of :data:`PAPERS`."""
    id: str
    """CSV file stem, e.g. ``"table1"``."""
    label: str
    """As the paper prints it, e.g. ``"Table 1"``."""
    caption: str
    dataset: str
    """One of ``mvtec3d-ad``, ``real3d-ad``, ``anomaly-shapenet``, ``modelnet10``, ``none``, ``several``."""
    kind: str
    """``main``, ``ablation``, ``timing`` or ``other``."""
    scale: str
    """``fraction`` (0..1), ``percent`` (0..100), ``seconds``, ``mb``, ``count`` or ``other`` (mixed units)."""
    notes: str
    title: str
    """The paper's title."""
    citation: str
    """Short citation, e.g. ``"Zhu et al., ACM MM 2024"``."""
    extra_categories: tuple[str, ...] = field(default=())
    """Categories outside the dataset's official list (optional TOML key ``extra_categories``)."""

    @property
    def path(self) -> Path:
        """The table's CSV file (under the current data directory)."""
        return DATA_DIR / self.paper / f"{self.id}.csv"

    def frame(self) -> pd.DataFrame:
        """The table in long format; see :func:`anomaly3d.paper_results.load_table`."""
        return table_frame(str(DATA_DIR), self.paper, self.id).copy()


def dataset_categories(dataset: str) -> tuple[str, ...]:
    """The official category ids of ``dataset`` in their official order (all four lists for ``several``)."""
    if dataset in _FORMAT_MODULES:
        return tuple(importlib.import_module(_FORMAT_MODULES[dataset]).CATEGORIES)
    if dataset == "several":
        return tuple(c for d in _FORMAT_MODULES for c in dataset_categories(d))
    return ()


def mentioned_in(text: str, word: str) -> bool:
    """Whether ``word`` occurs in ``text`` as a whole token (not inside a longer name such as ``cap10``)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# ----------------------------------------------------------------------------------------------- parsing


@dataclass
class ParsedCatalog:
    """What :func:`parse_catalog` could read from one ``tables.toml``."""

    tables: list[PaperTable]
    problems: list[str]
    """Every problem seen (including those in :attr:`fatal`)."""
    fatal: list[str]
    """Problems that leave the catalog unusable: unreadable file, entries without required keys, duplicate ids."""


def parse_catalog(root: Path, paper: str) -> ParsedCatalog:
    """The tables of ``root/paper/tables.toml`` that could be built, and every problem seen in the file."""
    where = f"{paper}/tables.toml"
    path = root / paper / "tables.toml"
    if not path.is_file():
        msg = f"{where}: missing (every paper folder needs one; see the paper_results spec)"
        return ParsedCatalog([], [msg], [msg])
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"{where}: not valid UTF-8 TOML: {exc}"
        return ParsedCatalog([], [msg], [msg])
    problems: list[str] = []
    fatal: list[str] = []
    for key in sorted(set(doc) - set(TOP_KEYS)):
        problems.append(f"{where}: unknown top-level key {key!r} (expected {', '.join(TOP_KEYS)})")
    head: dict[str, str] = {}
    for key in ("paper", "title", "citation"):
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: top-level key {key!r} is missing or not a non-empty string")
        else:
            head[key] = value
    if "paper" in head and head["paper"] != paper:
        problems.append(f"{where}: paper = {head['paper']!r} but the folder is {paper!r}; they must be equal")
    entries = doc.get("table", [])
    if not isinstance(entries, list) or not entries:
        problems.append(f"{where}: no [[table]] entries")
        entries = []
    tables: list[PaperTable] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        table, entry_problems = _parse_entry(where, n, entry, paper, head)
        problems += entry_problems
        if table is None:
            fatal += entry_problems
            continue
        if table.id in seen:
            msg = f"{where}: table id {table.id!r} appears twice"
            problems.append(msg)
            fatal.append(msg)
            continue
        seen.add(table.id)
        tables.append(table)
    return ParsedCatalog(tables, problems, fatal)


def _parse_entry(
    where: str, n: int, entry: Any, paper: str, head: dict[str, str]
) -> tuple[PaperTable | None, list[str]]:
    """One ``[[table]]`` entry: the table (``None`` when a required key is missing or mistyped) and problems."""
    if not isinstance(entry, dict):
        return None, [f"{where}: [[table]] entry {n} is not a table"]
    name = f"[[table]] {entry.get('id', f'entry {n}')!r}"
    broken: list[str] = []
    for key in TABLE_KEYS:
        value = entry.get(key)
        if key not in entry:
            broken.append(f"{where}: {name}: missing key {key!r}")
        elif not isinstance(value, str) or (key != "notes" and not value.strip()):
            broken.append(f"{where}: {name}: key {key!r} must be a non-empty string, got {value!r}")
    extra = entry.get("extra_categories", [])
    if not isinstance(extra, list) or not all(isinstance(c, str) for c in extra):
        broken.append(f"{where}: {name}: extra_categories must be a list of strings")
    if broken:
        return None, broken
    allowed_keys = TABLE_KEYS + OPTIONAL_TABLE_KEYS
    problems = [
        f"{where}: {name}: unknown key {key!r} (expected {', '.join(allowed_keys)})"
        for key in sorted(set(entry) - set(allowed_keys))
    ]
    for key, allowed in (("dataset", DATASETS), ("kind", KINDS), ("scale", SCALES)):
        if entry[key] not in allowed:
            problems.append(f"{where}: {name}: {key} = {entry[key]!r} is not one of {', '.join(allowed)}")
    if not TABLE_ID_RE.fullmatch(entry["id"]):
        problems.append(f"{where}: {name}: id must be lowercase [a-z0-9_] (it is the CSV file stem)")
    table = PaperTable(
        paper=paper,
        id=entry["id"],
        label=entry["label"],
        caption=entry["caption"],
        dataset=entry["dataset"],
        kind=entry["kind"],
        scale=entry["scale"],
        notes=entry["notes"],
        title=head.get("title", ""),
        citation=head.get("citation", ""),
        extra_categories=tuple(extra),
    )
    return table, problems


def read_rows(path: Path, where: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """The data rows of a table CSV as ``(line number, {column: text})`` and the problems seen.

    Rows with the wrong number of fields are reported and skipped; a wrong header stops the reading.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"{where}: not valid UTF-8 ({exc})"]
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        return [], [f"{where}: empty file (expected the header {','.join(HEADER)})"]
    if tuple(header) != HEADER:
        return [], [f"{where}:1: header is {','.join(header)!r}, expected exactly {','.join(HEADER)!r}"]
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[str] = []
    for fields in reader:
        line = reader.line_num
        if not fields:
            problems.append(f"{where}:{line}: blank line")
            continue
        if len(fields) != len(HEADER):
            problems.append(
                f"{where}:{line}: {len(fields)} fields, expected {len(HEADER)} "
                "(quote a note that contains a comma)"
            )
            continue
        rows.append((line, dict(zip(HEADER, fields, strict=True))))
    return rows, problems


# ----------------------------------------------------------------------------------------------- cached


@lru_cache(maxsize=8)
def catalog(root: str) -> dict[str, tuple[PaperTable, ...]]:
    """``{paper: tables in paper order}`` for every paper of :data:`PAPERS` found under ``root``.

    Raises:
        PaperDataError: a catalog cannot be read or an entry lacks a required key.
    """
    out: dict[str, tuple[PaperTable, ...]] = {}
    for paper in PAPERS:
        parsed = parse_catalog(Path(root), paper)
        if parsed.fatal:
            raise PaperDataError(
                f"{parsed.fatal[0]} (run anomaly3d.paper_results.validate() for every problem)"
            )
        out[paper] = tuple(parsed.tables)
    return out


@lru_cache(maxsize=64)
def table_frame(root: str, paper: str, table_id: str) -> pd.DataFrame:
    """The long-format frame of one table (cached: callers must copy before handing it out).

    Raises:
        PaperDataError: wrong header, a row with the wrong number of fields, or a value that is not a number.
    """
    import numpy as np
    import pandas as pd

    where = f"{paper}/{table_id}.csv"
    path = Path(root) / paper / f"{table_id}.csv"
    if not path.is_file():
        raise PaperDataError(f"{where}: missing under {root} although tables.toml lists it")
    rows, problems = read_rows(path, where)
    if problems:
        raise PaperDataError(f"{problems[0]} (run anomaly3d.paper_results.validate() for every problem)")
    values: list[float] = []
    for line, row in rows:
        text = row["value"].strip()
        if text and not NUMBER_RE.fullmatch(text):
            raise PaperDataError(
                f"{where}:{line}: value {row['value']!r} is not a number; leave it empty and explain in note"
            )
        values.append(float(text) if text else np.nan)
    columns = {c: [row[c] for _, row in rows] for c in ("method", "setting", "category", "metric")}
    frame = pd.DataFrame(
        {
            "paper": paper,
            "table": table_id,
            **columns,
            "value": np.asarray(values, dtype=float),
            "value_text": [row["value"] for _, row in rows],
            "note": [row["note"] for _, row in rows],
        },
        columns=["paper", "table", "method", "setting", "category", "metric", "value", "value_text", "note"],
    )
    return frame
