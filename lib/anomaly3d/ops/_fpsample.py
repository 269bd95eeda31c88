"""Exact farthest point sampling on the CPU through fpsample's bucket ("QuickFPS") KD-line sampler.

fpsample's bucket samplers are exact FPS and ~50x faster than a plain loop on large clouds, but (fpsample
1.0.x) they read ``start_idx`` *after* building their KD tree, which reorders the points in place, so the
sampling does not start at the requested point. :func:`kdline_slot` replays the tree build along the single
path of the wanted point (the same float32 splits, the same in-place partition; O(N) in total) to find the
slot that holds it, and :func:`fps_fpsample` passes that slot. The first returned index is always checked:
if a future fpsample builds its tree differently (or fixes the start) and the replay misses, the exact
vanilla sampler is used instead, with a warning, so results never silently change.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["fps_fpsample", "kdline_height", "kdline_slot"]


def kdline_height(n_points: int) -> int:
    """KD-line tree height used for ``n_points``; ~log2(N)/2 - 1 was fastest in our measurements
    (``python -m anomaly3d.reports.benchmarks.ops``), clipped to [3, 9] as fpsample's docs advise."""
    return int(min(9, max(3, round(math.log2(max(n_points, 2)) / 2 - 1))))


def kdline_slot(points: np.ndarray, target: int, height: int) -> int:
    """Position of point ``target`` in fpsample's KD-line tree array once the tree is built.

    Replays ``KDTreeBase::divideTree`` on the path to ``target``: split on the widest bounding-box axis
    (first of equals), at the float32 sequential mean; Hoare-style in-place partition (``< split`` to the
    left); a side that would be empty gets one point; stop at depth ``height`` or a single point.

    Args:
        points: ``(N, 3)`` C-contiguous float32, exactly the array given to fpsample.
        target: index of the wanted start point.
        height: the tree height passed to fpsample.
    """
    axes = np.ascontiguousarray(points.T)  # one contiguous row per axis: fast reductions and gathers
    cols = axes
    order = np.arange(points.shape[0])
    left = 0
    for level in range(height):
        count = order.size
        if count == 1:
            break
        if level:
            cols = np.take(axes, order, axis=1)
        dim = int(np.argmax([c.max() - c.min() for c in cols]))  # first widest axis (0 if all are flat)
        vals = cols[dim]
        split = np.cumsum(vals, dtype=np.float32)[-1] / np.float32(count)  # sequential, as the C++ loop
        lt = vals < split
        n_lt = int(np.count_nonzero(lt))
        if n_lt == 0:
            delta = 1
        elif n_lt == count:
            delta = count - 1
        else:
            delta = n_lt
            wrong_left = np.flatnonzero(~lt[:n_lt])
            wrong_right = np.flatnonzero(lt[n_lt:])[::-1] + n_lt
            order[wrong_left], order[wrong_right] = order[wrong_right], order[wrong_left]
        pos = int(np.flatnonzero(order == target)[0])
        if pos < delta:
            order = order[:delta]
        else:
            order, left = order[delta:], left + delta
    return left + int(np.flatnonzero(order == target)[0])


_warned = False


def fps_fpsample(points: np.ndarray, n: int, start: int) -> np.ndarray:
    """Exact FPS of ``n`` indices starting at ``start`` (``points`` ``(N, 3)``; returns int64 ``(n,)``)."""
    import fpsample

    global _warned
    pts = np.ascontiguousarray(points, dtype=np.float32)
    total = pts.shape[0]
    height = kdline_height(total)
    if total >= 2**height and n > 1:
        slot = kdline_slot(pts, start, height)
        idx = fpsample.bucket_fps_kdline_sampling(pts, n, height, start_idx=slot)
        if int(idx[0]) == start:
            return idx.astype(np.int64)
        if not _warned:
            warnings.warn(
                "fpsample's bucket sampler did not start at the requested point (its KD-tree layout differs "
                f"from the one anomaly3d replays; fpsample {getattr(fpsample, '__version__', '?')}); using its "
                "exact vanilla sampler instead, which is slower on large clouds",
                RuntimeWarning,
                stacklevel=3,
            )
            _warned = True
    return fpsample.fps_sampling(pts, n, start_idx=int(start)).astype(np.int64)
