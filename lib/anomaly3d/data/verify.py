"""Check a dataset folder against its manifest: layout, per-split counts and the readability of every file.

``verify(dataset, root)`` lists each category's files (cheap), compares the counts with the manifest (the
``MANIFEST.json`` in ``root`` if there is one, else the shipped ``data_manifest/<dataset>.toml``) and checks every
file's header and size — TIFF IFDs, PNG header and end chunk, PCD header and data length, OFF counts — without
reading whole clouds. ``deep=True`` decodes every file as well. Command line:
``python -m anomaly3d.data verify <dataset> <root> [--deep] [--json]`` (exit code 1 when there are problems).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anomaly3d.data.formats.records import count_records, subdirs
from anomaly3d.data.manifest import COUNT_KEYS, Manifest, find_manifest
from anomaly3d.data.registry import get_format
from anomaly3d.data.sample import DataError

__all__ = ["CategoryReport", "Problem", "VerifyReport", "format_report", "verify"]

PROBLEM_KINDS = ("root", "manifest", "missing_category", "missing_split", "count", "unreadable")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the folder.

    Attributes:
        kind: one of ``root``, ``manifest``, ``missing_category``, ``missing_split``, ``count``, ``unreadable``.
        category: the category concerned (None for folder-wide problems).
        path: the missing or broken file/folder when there is one.
        message: what is wrong and how to fix it.
    """

    kind: str
    category: str | None
    path: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.category}: " if self.category else ""
        return f"[{self.kind}] {where}{self.message}"


@dataclass
class CategoryReport:
    """Counts found vs expected (manifest keys) and the problems of one category."""

    name: str
    present: bool
    found: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.present and not self.problems


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`."""

    dataset: str
    root: str
    manifest: str | None
    synthetic: bool = False
    categories: dict[str, CategoryReport] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    extra_categories: list[str] = field(default_factory=list)
    checked_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def usable_categories(self) -> list[str]:
        return [c.name for c in self.categories.values() if c.usable]

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["usable_categories"] = self.usable_categories
        return out


def _expected_counts(manifest: Manifest, category: str) -> dict[str, int | None]:
    spec = manifest.categories[category]
    keys = [k for k in COUNT_KEYS if k in spec.counts]
    if ("test_good" in spec.counts or "test_defect" in spec.counts) and "test" not in keys:
        keys.append("test")
    return {k: spec.expected(k) for k in keys}


def _verify_category(
    fmt: Any, manifest: Manifest, root: Path, name: str, deep: bool, report: VerifyReport
) -> CategoryReport:
    cat = CategoryReport(name=name, present=True, expected=_expected_counts(manifest, name))
    for split in manifest.splits:
        try:
            records = fmt.index_split(root, name, split)
        except DataError as exc:
            cat.problems.append(Problem("missing_split", name, None, str(exc)))
            continue
        cat.found.update(count_records(records, split))
        for rec in records:
            report.checked_files += 1
            try:
                fmt.check_record(rec, deep=deep)
            except DataError as exc:
                first = next(iter(rec.files.values()))
                cat.problems.append(Problem("unreadable", name, str(first), str(exc)))
    for key, want in cat.expected.items():
        if want is None or key not in cat.found:
            continue
        if cat.found[key] != want:
            split = key.split("_")[0]
            cat.problems.append(
                Problem(
                    "count",
                    name,
                    None,
                    f"{key}: found {cat.found[key]} samples, the manifest expects {want} "
                    f"(folder {root / name}, split {split!r}); incomplete extraction or a different dataset version",
                )
            )
    return cat


def verify(dataset: str, root: str | os.PathLike[str], *, deep: bool = False) -> VerifyReport:
    """Check ``root`` against the manifest of ``dataset``.

    Args:
        dataset: ``mvtec3d-ad``, ``real3d-ad``, ``anomaly-shapenet`` or ``modelnet10``.
        root: the dataset folder (for an embedded benchmark: the folder holding its ``MANIFEST.json``).
        deep: also decode every file (slow for Real3D-AD: reads every cloud and GT file).

    Returns:
        A :class:`VerifyReport`: one :class:`Problem` per missing category, missing split, count mismatch and
        unreadable file (in that category's order), the counts found vs expected, and the usable categories
        (present, with no problem).

    Raises:
        ValueError: unknown dataset id.
    """
    fmt = get_format(dataset)
    root = Path(root)
    report = VerifyReport(dataset=dataset, root=str(root), manifest=None)
    if not root.is_dir():
        report.problems.append(Problem("root", None, str(root), f"{root}: dataset folder not found"))
        return report
    try:
        manifest = find_manifest(dataset, root)
    except DataError as exc:
        report.problems.append(Problem("manifest", None, None, str(exc)))
        return report
    report.manifest = str(manifest.path) if manifest.path else None
    report.synthetic = manifest.synthetic
    found = fmt.list_categories(root)
    for name in manifest.categories:
        if name not in found:
            spec = manifest.categories[name]
            total = spec.total
            cat = CategoryReport(name=name, present=False, expected=_expected_counts(manifest, name))
            cat.problems.append(
                Problem(
                    "missing_category",
                    name,
                    str(root / name),
                    f"category folder {root / name} not found"
                    + (f" (expected {total} samples)" if total else ""),
                )
            )
            report.categories[name] = cat
        else:
            report.categories[name] = _verify_category(fmt, manifest, root, name, deep, report)
        report.problems.extend(report.categories[name].problems)
    report.extra_categories = [c for c in found if c not in manifest.categories]
    if not any(c.present for c in report.categories.values()):
        seen = ", ".join(d.name for d in subdirs(root)[:10]) or "nothing"
        report.problems.insert(
            0,
            Problem(
                "root",
                None,
                str(root),
                f"none of the {len(manifest.categories)} categories is in {root} (it contains: {seen}); pass the "
                f"folder that holds the category folders. Expected layout:\n{manifest.layout}",
            ),
        )
    return report


def format_report(report: VerifyReport, *, max_problems: int = 50) -> str:
    """Human-readable text of a report: a per-category table, the problems (first ``max_problems``), a verdict."""
    lines = [
        f"verify {report.dataset} at {report.root}",
        f"manifest: {report.manifest or '(none)'}"
        + ("  [embedded/synthetic benchmark]" if report.synthetic else ""),
    ]
    if report.categories:
        keys = [k for k in COUNT_KEYS if any(k in c.expected for c in report.categories.values())]
        width = max(len(n) for n in report.categories) + 2
        lines.append("category".ljust(width) + "".join(k.rjust(14) for k in keys) + "  status")
        for c in report.categories.values():
            cells = []
            for k in keys:
                want = c.expected.get(k)
                got = c.found.get(k) if c.present else None
                cells.append(f"{'-' if got is None else got}/{'?' if want is None else want}".rjust(14))
            status = (
                "usable" if c.usable else ("MISSING" if not c.present else f"{len(c.problems)} problem(s)")
            )
            lines.append(c.name.ljust(width) + "".join(cells) + "  " + status)
    if report.extra_categories:
        lines.append(f"also found (not in the manifest): {', '.join(report.extra_categories)}")
    lines.append(f"files checked: {report.checked_files}")
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines += [f"  {p}" for p in report.problems[:max_problems]]
        if len(report.problems) > max_problems:
            lines.append(f"  ... and {len(report.problems) - max_problems} more")
        lines.append(f"first problem: {report.problems[0]}")
    else:
        lines.append("no problems")
    usable = report.usable_categories
    lines.append(f"usable categories ({len(usable)}/{len(report.categories)}): {', '.join(usable) or 'none'}")
    return "\n".join(lines)
