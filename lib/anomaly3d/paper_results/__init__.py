"""The five papers' published numbers, as data: what report tables print beside our own results.

Each paper has a folder ``data/<paper>/`` with ``tables.toml`` (one ``[[table]]`` entry per results table:
label, caption, dataset, kind, scale, notes) and one long-format CSV per table
(``method,setting,category,metric,value,note``; values exactly as printed). The notes say what was
garbled in the text extraction, reconstructed, or differs between papers — read them before quoting a number.

    from anomaly3d import paper_results as pr
    pr.list_tables("group3ad")                              # [PaperTable(paper='group3ad', id='table1', ...), ...]
    df = pr.load_table("po3ad", "table3")                   # long format, values as floats (percent here)
    w = pr.wide("group3ad", "table1", "O-AUROC")            # methods x (Real3D-AD categories..., mean)
    w = pr.as_fraction(pr.wide("po3ad", "table1", "O-AUROC"), "percent")   # compare on one scale
    assert pr.validate() == []                              # every problem in every file, as text

Values are NaN where the paper's text gives no readable number (the row's ``note`` says why). Tables are in
the units of their ``scale``: ``fraction`` (0..1) or ``percent`` (0..100) for scores; ``other`` tables mix
units per metric (``time-s`` seconds, ``features-count``, ...), see their notes.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly3d.paper_results import _catalog
from anomaly3d.paper_results._catalog import (
    PAPERS,
    PSEUDO_CATEGORIES,
    PaperDataError,
    PaperTable,
    UnknownNameError,
    dataset_categories,
)

__all__ = [
    "FIGURE_KINDS",
    "PAPERS",
    "PaperDataError",
    "PaperFigure",
    "PaperTable",
    "UnknownNameError",
    "as_fraction",
    "category_order",
    "clear_cache",
    "data_dir",
    "get_table",
    "list_figures",
    "list_tables",
    "load_table",
    "paper_values",
    "validate",
    "wide",
]


def data_dir() -> Path:
    """The folder holding the paper folders (inside the installed package)."""
    return _catalog.DATA_DIR


def clear_cache() -> None:
    """Forget cached catalogs and tables (only needed after editing the files in a running process)."""
    _catalog.catalog.cache_clear()
    _catalog.table_frame.cache_clear()
    _figures.cache_clear()


def _tables(paper: str) -> tuple[PaperTable, ...]:
    if paper not in PAPERS:
        raise UnknownNameError(f"unknown paper {paper!r}; expected one of {', '.join(PAPERS)}")
    return _catalog.catalog(str(_catalog.DATA_DIR))[paper]


def list_tables(paper: str | None = None) -> list[PaperTable]:
    """The tables of ``paper`` (all papers when ``None``) in paper order, oldest paper first.

    Raises:
        UnknownNameError: unknown paper (the message lists the valid ones).
        PaperDataError: a ``tables.toml`` cannot be read.
    """
    papers = PAPERS if paper is None else (paper,)
    return [t for p in papers for t in _tables(p)]


def get_table(paper: str, table_id: str) -> PaperTable:
    """The catalog entry of one table, e.g. ``get_table("imrnet", "table3")``.

    Raises:
        UnknownNameError: unknown paper or table (the message lists the valid names).
    """
    tables = _tables(paper)
    for table in tables:
        if table.id == table_id:
            return table
    raise UnknownNameError(
        f"paper {paper!r} has no table {table_id!r}; its tables are {', '.join(t.id for t in tables)}"
    )


def load_table(paper: str, table_id: str) -> pd.DataFrame:
    """One table in long format: columns ``paper, table, method, setting, category, metric, value,
    value_text, note``, one row per printed number, in file order.

    ``value`` is a float (NaN where the paper's text has no readable number); ``value_text`` is the number as
    printed (trailing zeros kept). Loaded once per process; each call returns a fresh copy.

    Raises:
        UnknownNameError: unknown paper or table.
        PaperDataError: the CSV is malformed (run :func:`validate` for every problem).
    """
    get_table(paper, table_id)
    return _catalog.table_frame(str(_catalog.DATA_DIR), paper, table_id).copy()


def _match(column: pd.Series, wanted: str | Iterable[str] | None) -> pd.Series:
    if wanted is None:
        return pd.Series(True, index=column.index)
    if isinstance(wanted, str):
        return column == wanted
    return column.isin(list(wanted))


def paper_values(
    paper: str,
    table_id: str,
    *,
    metric: str | Iterable[str] | None = None,
    method: str | Iterable[str] | None = None,
    setting: str | Iterable[str] | None = None,
    category: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """:func:`load_table` filtered to the given metric(s), method(s), setting(s) and category(ies).

    ``None`` keeps everything; a string or a collection of strings selects those values exactly (``setting=""``
    selects the plain results rows). The result may be empty; its index is renumbered from 0.
    """
    df = load_table(paper, table_id)
    keep = (
        _match(df["metric"], metric)
        & _match(df["method"], method)
        & _match(df["setting"], setting)
        & _match(df["category"], category)
    )
    return df[keep].reset_index(drop=True)


def category_order(table: PaperTable, categories: Iterable[str]) -> list[str]:
    """``categories`` sorted for display: the dataset's official order, then other categories in the given
    order, then ``mean``, then ``all``."""
    given = list(dict.fromkeys(categories))
    official = [c for c in dataset_categories(table.dataset) if c in given]
    others = [c for c in given if c not in official and c not in PSEUDO_CATEGORIES]
    return official + others + [c for c in PSEUDO_CATEGORIES if c in given]


def wide(paper: str, table_id: str, metric: str, setting: str = "") -> pd.DataFrame:
    """One metric of one table as ``methods x categories`` floats: the layout report tables print.

    Rows are the methods in the paper's order; columns are the table's categories in the dataset's official
    order, then any extra categories, then ``mean`` (and ``all`` for tables without categories).

    Raises:
        UnknownNameError: ``metric`` or ``setting`` does not occur in the table (the message lists those that do).
    """
    table = get_table(paper, table_id)
    df = load_table(paper, table_id)
    if metric not in set(df["metric"]):
        raise UnknownNameError(
            f"{paper}/{table_id} has no metric {metric!r}; it has {', '.join(dict.fromkeys(df['metric']))}"
        )
    df = df[df["metric"] == metric]
    if setting not in set(df["setting"]):
        settings = ", ".join(repr(s) for s in dict.fromkeys(df["setting"]))
        raise UnknownNameError(
            f"{paper}/{table_id} has no {metric} rows with setting {setting!r}; it has {settings}"
        )
    df = df[df["setting"] == setting]
    out = df.pivot(index="method", columns="category", values="value")
    out = out.reindex(index=list(dict.fromkeys(df["method"])), columns=category_order(table, df["category"]))
    out.columns.name = "category"
    return out.astype(float)


def as_fraction(values: Any, scale: str | PaperTable) -> Any:
    """``values`` on the 0..1 scale: divided by 100 for a ``percent`` table, unchanged for ``fraction``.

    ``values`` may be a number, a list, a numpy array, a pandas Series or DataFrame (lists come back as
    arrays); ``scale`` is a table's ``scale`` or the :class:`PaperTable` itself.

    Raises:
        ValueError: any other scale (seconds, counts, mixed ``other`` tables have no 0..1 form).
    """
    name = scale.scale if isinstance(scale, PaperTable) else scale
    if name not in ("fraction", "percent"):
        raise ValueError(
            f"scale {name!r} is not a score scale; as_fraction converts 'percent' or 'fraction' tables "
            "(for an 'other' table pass the unit of the score metric you selected, usually 'fraction')"
        )
    if isinstance(values, (list, tuple)):
        import numpy as np

        values = np.asarray(values, dtype=float)
    return values / 100.0 if name == "percent" else values


def validate(root: str | Path | None = None) -> list[str]:
    """Every problem in the shipped files (or under ``root``), one line each, prefixed with the file.

    Checks: paper folders; ``tables.toml`` keys and values; a CSV for every entry and an entry for every
    CSV; the CSV header; field counts; empty values without a note; values that are not plain numbers;
    score values outside the table's scale; duplicate ``(method, setting, category, metric)`` rows; setting
    syntax; categories unknown for the dataset (``mean``/``all`` and categories named in the table's notes
    or ``extra_categories`` are accepted); metric names outside the spec that the notes do not document.
    Reads the files afresh (no cache).
    """
    from anomaly3d.paper_results._checks import validate_root

    return validate_root(Path(root) if root is not None else _catalog.DATA_DIR)


FIGURE_KINDS = ("result", "qualitative", "illustration")


@dataclass(frozen=True)
class PaperFigure:
    """One figure of one paper, from its ``figures.toml``.

    ``kind``: ``result`` (a quantitative plot), ``qualitative`` (example anomaly maps) or ``illustration``
    (architecture, pipeline, data examples); ``reproduce`` says what a reproduction plots; ``source_table`` names
    the table of the same paper holding the same numbers, if any.
    """

    paper: str
    id: str
    label: str
    caption: str
    kind: str
    reproduce: str
    source_table: str


@functools.cache
def _figures(root: str, paper: str) -> tuple[PaperFigure, ...]:
    path = Path(root) / paper / "figures.toml"
    if not path.is_file():
        return ()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        figs = tuple(
            PaperFigure(paper, f["id"], f["label"], f["caption"], f["kind"], f.get("reproduce", ""),
                        f.get("source_table", ""))
            for f in doc.get("figure", [])
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise PaperDataError(f"{paper}/figures.toml: cannot be read ({type(exc).__name__}: {exc})") from exc
    bad = [f.id for f in figs if f.kind not in FIGURE_KINDS]
    if bad:
        raise PaperDataError(f"{paper}/figures.toml: figures {bad} have a kind outside {FIGURE_KINDS}")
    return figs


def list_figures(paper: str | None = None, *, kind: str | None = None) -> list[PaperFigure]:
    """The figures of ``paper`` (all papers when ``None``), optionally only those of one ``kind``.

    Raises:
        UnknownNameError: unknown paper; PaperDataError: an unreadable ``figures.toml``.
    """
    if paper is not None and paper not in PAPERS:
        raise UnknownNameError(f"unknown paper {paper!r}; expected one of {', '.join(PAPERS)}")
    papers = PAPERS if paper is None else (paper,)
    figs = [f for p in papers for f in _figures(str(_catalog.DATA_DIR), p)]
    return [f for f in figs if kind is None or f.kind == kind]
