"""Figures of the embedded benchmark: one example of every defect type per format, as 3D scatter plots with
the ground truth in red, read back through the real-format loaders."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from anomaly3d.data.registry import list_categories, load_split
from anomaly3d.data.sample import GOOD, Sample
from anomaly3d.data.synthetic.benchmark import defect_types

__all__ = ["example_grid", "first_examples"]

_TITLES = {
    "anomaly-shapenet": "Anomaly-ShapeNet\nformat",
    "real3d-ad": "Real3D-AD format\n(one-sided scans)",
    "mvtec3d-ad": "MVTec 3D-AD format\n(table removed)",
}


def first_examples(fmt: str, root: str | os.PathLike[str], category: str | None = None) -> dict[str, Sample]:
    """The first test sample of each defect type (``good`` included), loaded with the format's loader (MVTec:
    ``preprocess="btf"``). Without ``category`` the types cycle through the categories (type ``i`` from
    category ``i mod n``, falling back to any category that has it), so the grid shows several shapes."""
    options = {"preprocess": "btf", "with_rgb": False} if fmt == "mvtec3d-ad" else {}
    cats = [category] if category is not None else list_categories(fmt, root)
    kinds = (GOOD,) + defect_types(fmt)
    splits = {c: load_split(fmt, root, c, "test", **options) for c in cats}
    found: dict[str, Sample] = {}
    for i, kind in enumerate(kinds):
        order = cats[i % len(cats) :] + cats[: i % len(cats)]
        for cat in order:
            recs = splits[cat].records
            hit = next((j for j, rec in enumerate(recs) if rec.defect_type == kind), None)
            if hit is not None:
                found[kind] = splits[cat][hit]
                break
    return found


def _view(fmt: str, s: Sample) -> tuple[np.ndarray, float, float]:
    """Coordinates to plot and the (elevation, azimuth) that looks at the defect."""
    p = s.points.astype(np.float64)
    if fmt == "mvtec3d-ad":  # camera frame (y down, z away): flip to z towards the camera, view from above
        return np.stack([p[:, 0], -p[:, 1], -p[:, 2]], axis=1), 55.0, -90.0
    center = p.mean(axis=0)
    lab = s.point_labels.astype(bool) if s.point_labels is not None else np.zeros(len(p), bool)
    d = (p[lab].mean(axis=0) - center) if lab.any() else np.array([1.0, -1.0, 0.6])
    d /= max(np.linalg.norm(d), 1e-12)
    return p, float(np.degrees(np.arcsin(np.clip(d[2], -1, 1)))), float(np.degrees(np.arctan2(d[1], d[0])))


def example_grid(
    roots: Mapping[str, str | os.PathLike[str]],
    out_png: str | os.PathLike[str],
    *,
    category: str | None = None,
    columns: Sequence[str] | None = None,
    dpi: int = 110,
) -> Path:
    """Write a PNG grid: one row per format in ``roots`` (format -> benchmark root), one column per defect
    type (``good`` first), each a 3D scatter of the loaded test cloud with anomalous points in red.

    Raises:
        ValueError: ``roots`` is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not roots:
        raise ValueError("roots is empty: give at least one format -> benchmark folder")
    cols = (
        list(columns)
        if columns is not None
        else [GOOD] + list(dict.fromkeys(k for fmt in roots for k in defect_types(fmt)))
    )
    fig = plt.figure(figsize=(2.3 * len(cols), 2.6 * len(roots)))
    for r, (fmt, root) in enumerate(roots.items()):
        examples = first_examples(fmt, root, category)
        for c, kind in enumerate(cols):
            ax = fig.add_subplot(len(roots), len(cols), r * len(cols) + c + 1, projection="3d")
            ax.set_axis_off()
            if kind not in examples:
                ax.set_title(f"{kind}\n(not in format)", fontsize=7, color="0.5")
                continue
            s = examples[kind]
            pts, elev, azim = _view(fmt, s)
            lab = s.point_labels.astype(bool) if s.point_labels is not None else np.zeros(len(pts), bool)
            ax.scatter(*pts[~lab].T, s=0.8, c="0.35", alpha=0.7, linewidths=0)
            if lab.any():
                ax.scatter(*pts[lab].T, s=1.5, c="red", linewidths=0)
            ax.set_box_aspect(np.ptp(pts, axis=0) + 1e-9)
            ax.view_init(elev, azim)
            ax.set_title(f"{s.category} / {kind}\n{len(pts)} pts, {100 * lab.mean():.1f}% GT", fontsize=7)
        fig.text(0.005, 1 - (r + 0.5) / len(roots), _TITLES.get(fmt, fmt), va="center", fontsize=9)
    fig.tight_layout(rect=(0.07, 0, 1, 1))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
