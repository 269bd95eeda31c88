"""Small figures the notebooks draw at every step: interactive 3D point clouds (plotly) and matplotlib curves.

Clouds are subsampled for display (``max_points``) so executed notebooks stay small; the subsample is drawn from a
fixed seed so the same call draws the same points.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly3d.atomic import atomic_path

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "cloud_figure",
    "clouds_figure",
    "line_figure",
    "save_matplotlib",
    "save_plotly",
    "use_light_plotly_renderer",
]

GT_COLOUR = "#d62728"
NORMAL_COLOUR = "#9aa5b1"


def use_light_plotly_renderer() -> None:
    """Render plotly figures as mimetype + CDN-loaded plotly.js, so notebooks don't embed 4 MB of JavaScript."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook_connected"


def _subsample(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=max_points, replace=False))


def _trace(points: np.ndarray, *, values: np.ndarray | None, labels: np.ndarray | None, name: str,
           max_points: int, size: float, colorscale: str, showscale: bool) -> go.Scatter3d:
    import plotly.graph_objects as go

    points = np.asarray(points)
    keep = _subsample(len(points), max_points)
    p = points[keep]
    if values is not None:
        marker: dict[str, Any] = {"size": size, "color": np.asarray(values)[keep], "colorscale": colorscale,
                                      "showscale": showscale, "colorbar": {"thickness": 10, "len": 0.6}}
    elif labels is not None:
        lab = np.asarray(labels)[keep] > 0
        marker = {"size": size, "color": np.where(lab, GT_COLOUR, NORMAL_COLOUR)}
    else:
        marker = {"size": size, "color": NORMAL_COLOUR}
    return go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", marker=marker, name=name,
                        hoverinfo="skip")


def cloud_figure(points: np.ndarray, *, values: np.ndarray | None = None, labels: np.ndarray | None = None,
                 title: str = "", max_points: int = 4000, size: float = 1.8, colorscale: str = "Viridis",
                 height: int = 380) -> go.Figure:
    """One cloud, coloured by ``values`` (a colour scale), else by ``labels`` (ground truth in red), else grey."""
    return clouds_figure([points], values=[values], labels=[labels], titles=[title], max_points=max_points,
                         size=size, colorscale=colorscale, height=height)


def clouds_figure(clouds: Sequence[np.ndarray], *, values: Sequence[np.ndarray | None] | None = None,
                  labels: Sequence[np.ndarray | None] | None = None, titles: Sequence[str] | None = None,
                  max_points: int = 4000, size: float = 1.8, colorscale: str = "Viridis",
                  height: int = 380) -> go.Figure:
    """Several clouds side by side, each in its own 3D scene (same colouring rules as :func:`cloud_figure`)."""
    from plotly.subplots import make_subplots

    n = len(clouds)
    if n == 0:
        raise ValueError("clouds is empty: nothing to draw")
    values = list(values) if values is not None else [None] * n
    labels = list(labels) if labels is not None else [None] * n
    titles = list(titles) if titles is not None else [""] * n
    if not (len(values) == len(labels) == len(titles) == n):
        raise ValueError(f"values/labels/titles must each have {n} entries (one per cloud)")
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n], subplot_titles=titles,
                        horizontal_spacing=0.01)
    for i, pts in enumerate(clouds):
        fig.add_trace(_trace(pts, values=values[i], labels=labels[i], name=titles[i] or f"cloud {i}",
                             max_points=max_points, size=size, colorscale=colorscale,
                             showscale=values[i] is not None and i == n - 1), row=1, col=i + 1)
    axis = {"visible": False}
    for i in range(n):
        fig.layout[f"scene{'' if i == 0 else i + 1}"].update(xaxis=axis, yaxis=axis, zaxis=axis,
                                                             aspectmode="data")
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, showlegend=False)
    return fig


def save_plotly(fig: go.Figure, path: str | Path, *, div_id: str) -> Path:
    """Write a self-contained HTML file (plotly.js inlined) with a fixed div id, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.write_html(tmp, include_plotlyjs=True, full_html=True, div_id=div_id)
    return path


def line_figure(x: Sequence[float], series: dict[str, Sequence[float]], *, xlabel: str, ylabel: str, title: str = "",
                log_x: bool = False, height: int = 360) -> go.Figure:
    """An interactive line chart (one trace per entry of ``series``), the HTML twin of a report's PNG figure."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, height=height,
                      margin={"l": 50, "r": 10, "t": 40, "b": 40})
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def save_matplotlib(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (an interrupted run never leaves a truncated image)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path
