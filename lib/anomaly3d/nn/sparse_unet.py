"""Sparse voxel convolutions and a MinkUNet-style U-Net in plain torch (no MinkowskiEngine, no compiled code).

PO3AD (Ye et al.) uses MinkowskiEngine's MinkUNet34C (C = 32) on voxels of size 0.03 as its backbone. This
file rebuilds what that needs from ordinary torch ops, so it runs unchanged on CPU and CUDA: a sparse tensor
with a coordinate cache, sorted-key hashing with ``torch.searchsorted``, kernel maps, gather-matmul-scatter
convolutions (submanifold, strided, transposed), and the U-Net itself.

Data flow for a batch of clouds::

    points (N, 3), batch_index (N,) --sparse_quantize(voxel_size)--> coords (M, 4), point_to_voxel (N,),
                                                                      voxel feats (M, C_in)
    SparseTensor(feats, coords)                  stride 1, a fresh CoordinateCache
    SparseUNet: stem conv (k5) -> n x [conv k2 s2 -> BasicBlocks]          tensor stride 1 -> 2^n
                n x [transposed conv k2 s2 -> concat encoder skip -> BasicBlocks]   2^n -> 1
                1x1 conv (bias)                  (M, out_channels) on the input coordinates, input row order
    voxel_to_point(out.feats, point_to_voxel)    (N, out_channels), one row per point

Conventions (MinkowskiEngine's):

* Coordinates ``(b, x, y, z)`` are integers in units of the finest voxel grid at every tensor stride ``s``; at
  stride ``s`` each of ``x, y, z`` is a multiple of ``s``. A stride-``f`` layer maps a cell to
  ``floor(xyz / (s f)) * (s f)``, so translating the input by a multiple of the total stride translates every
  level exactly.
* Kernel offsets are multiples of the *input* tensor stride (times the dilation): an odd kernel size ``k``
  spans ``-(k // 2) .. k // 2`` per axis (centred), an even one ``0 .. k - 1`` (anchored at the output cell's
  low corner; a k2 s2 convolution sends every fine cell to exactly one coarse cell). Offset index
  ``ix + k * iy + k^2 * iz`` (x fastest, the order of MinkowskiEngine's kernel-region iterator), so a weight
  ``(K, C_in, C_out)`` should have MinkowskiEngine's kernel layout (not checked against a real checkpoint).
* A convolution is a cross-correlation over the occupied neighbours, ``out[p] = sum_k feats[p + o_k] @ W[k]``
  (plus a bias); a stride-1 ("submanifold") convolution keeps the input coordinates. A transposed convolution
  is the adjoint scatter of the strided convolution's kernel map onto the finer coordinates cached by the
  encoder (it never creates new coordinates).

Coordinate hashing: ``(b, x, y, z)`` is packed into one int64 key
``b * 2^48 + (x + 2^15) * 2^32 + (y + 2^15) * 2^16 + (z + 2^15)``: 15 bits of batch index (``0 .. 32767``)
and 16 bits per axis (``-32768 .. 32767`` voxels, about +-983 units at voxel size 0.03). The key is
non-negative and increases with ``(b, x, y, z)`` lexicographically, so sorted keys are sorted coordinates.
Larger values raise a ``ValueError``. Lookups search a sorted copy of a coordinate set's keys
(``torch.searchsorted``); a neighbour key is the cell's key plus the packed offset (exact whenever the
neighbour stays inside the budget; neighbours outside it are dropped, as they cannot be occupied).

Caching: every :class:`SparseTensor` derived from one input shares its :class:`CoordinateCache`, which holds
the coordinate set (and sorted keys) of each tensor stride, the fine-to-coarse parent maps, and the kernel map
of every ``(in_stride, out_stride, kernel_size, dilation)`` used; a transposed convolution reuses the matching
strided map, transposed. So the maps are built once per forward (and reused across forwards on the same
tensor). A kernel map is the list of ``(in_index, out_index)`` pairs per offset; the identity pairs of a
submanifold convolution's centre offset are not stored (that term is a plain matmul).

Two execution paths, same numbers (:func:`sparse_conv`):

* ``"gather"``: one gather of all neighbour rows, one matmul per non-empty offset, one ``index_add``; memory
  proportional to the number of neighbour pairs. The better choice for sparse neighbourhoods (fine strides).
* ``"im2col"``: gather a zero-padded ``(M_out, K * C_in)`` neighbour matrix and do a single matmul; best when
  most of the ``K`` neighbours exist (coarse strides) and the matrix is small.
* ``"auto"`` (default) picks ``im2col`` when at least half of the ``M_out * K`` neighbour slots are occupied and
  the matrix has at most ``2^24`` entries, else ``gather``.

Both are ``torch.autograd.Function``s with hand-written backward passes that save only the input features and
the weight (the gathered rows are rebuilt in backward), so training memory is that of the activations, not of
the ``K``-fold neighbour copies; plain autograd through per-offset slices would also allocate a full-size zero
gradient per slice. First-order gradients only (no double backward).

Speed (1 CPU thread, float32, forward + backward of :func:`minkunet34c` on 8 clouds x 4096 points uniform in a
unit ball at voxel 0.03, 32k voxels): about 7.5 s and 2.4 GB peak RSS; the time is mostly the matmuls
(~150 GFLOP forward).

Batch norm couples the clouds of a batch in training mode (statistics over all voxels, as
MinkowskiEngine's ``MinkowskiBatchNorm``); in eval mode every cloud is processed independently.

Weight initialisation follows PO3AD's: Kaiming normal (``fan_out = K * C_out``, ReLU gain) for the
convolutions, batch norm weight 1 and bias 0; transposed convolutions keep MinkowskiEngine's default uniform
``+-1 / sqrt(K * C_out)`` (PO3AD's loop does not touch them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "COORD_MAX",
    "COORD_MIN",
    "MAX_BATCH",
    "BasicBlock",
    "CoordinateCache",
    "KernelMap",
    "SparseBatchNorm",
    "SparseConv3d",
    "SparseConvTranspose3d",
    "SparseReLU",
    "SparseTensor",
    "SparseUNet",
    "SparseUNetConfig",
    "kernel_offsets",
    "minkunet34c",
    "pack_coords",
    "sparse_cat",
    "sparse_conv",
    "sparse_quantize",
    "unpack_keys",
    "voxel_to_point",
]

# ---------------------------------------------------------------------------------------------------------
# coordinate hashing

_BATCH_BITS = 15
_AXIS_BITS = 16
_AXIS_BIAS = 1 << (_AXIS_BITS - 1)
_AXIS_MASK = (1 << _AXIS_BITS) - 1
_SHIFT_X, _SHIFT_Y = 2 * _AXIS_BITS, _AXIS_BITS
_SHIFT_B = 3 * _AXIS_BITS

COORD_MIN = -_AXIS_BIAS  #: smallest voxel coordinate a key can hold (-32768)
COORD_MAX = _AXIS_BIAS - 1  #: largest voxel coordinate a key can hold (32767)
MAX_BATCH = (1 << _BATCH_BITS) - 1  #: largest batch index a key can hold (32767)

_IM2COL_MIN_FILL = 0.5
_IM2COL_MAX_ENTRIES = 1 << 24
_ALGORITHMS = ("auto", "gather", "im2col")


def _pack(coords: Tensor) -> Tensor:
    """Keys of ``(M, 4)`` int64 coordinates already known to fit the budget."""
    b, x, y, z = coords.unbind(1)
    return (
        (b << _SHIFT_B) | ((x + _AXIS_BIAS) << _SHIFT_X) | ((y + _AXIS_BIAS) << _SHIFT_Y) | (z + _AXIS_BIAS)
    )


def _check_coords(coords: Tensor, name: str = "coords") -> Tensor:
    """``(M, 4)`` integer coordinates as int64, with batch and axes inside the key's bit budget."""
    if not isinstance(coords, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(coords).__name__}")
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise ValueError(f"{name} must have shape (M, 4) = (batch, x, y, z), got {tuple(coords.shape)}")
    if coords.dtype.is_floating_point or coords.dtype.is_complex or coords.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got dtype {coords.dtype}")
    coords = coords.to(torch.int64)
    if coords.shape[0] == 0:
        return coords
    lo, hi = coords.amin(0).tolist(), coords.amax(0).tolist()
    if lo[0] < 0 or hi[0] > MAX_BATCH:
        raise ValueError(
            f"{name}: batch indices must be in [0, {MAX_BATCH}] ({_BATCH_BITS}-bit budget of the coordinate "
            f"key), got [{lo[0]}, {hi[0]}]"
        )
    if min(lo[1:]) < COORD_MIN or max(hi[1:]) > COORD_MAX:
        raise ValueError(
            f"{name}: voxel coordinates must be in [{COORD_MIN}, {COORD_MAX}] ({_AXIS_BITS}-bit budget per "
            f"axis of the coordinate key), got [{min(lo[1:])}, {max(hi[1:])}]; use a larger voxel size or "
            "centre the cloud"
        )
    return coords


def pack_coords(coords: Tensor) -> Tensor:
    """Pack ``(M, 4)`` integer coordinates ``(b, x, y, z)`` into ``(M,)`` int64 keys (order-preserving).

    ``key = b * 2^48 + (x + 2^15) * 2^32 + (y + 2^15) * 2^16 + (z + 2^15)``; see the module docstring.

    Raises:
        ValueError: wrong shape or dtype, a batch index outside ``[0, MAX_BATCH]`` or a coordinate outside
            ``[COORD_MIN, COORD_MAX]``.
    """
    return _pack(_check_coords(coords))


def unpack_keys(keys: Tensor) -> Tensor:
    """Inverse of :func:`pack_coords`: ``(M,)`` int64 keys -> ``(M, 4)`` int64 coordinates."""
    b = keys >> _SHIFT_B
    x = ((keys >> _SHIFT_X) & _AXIS_MASK) - _AXIS_BIAS
    y = ((keys >> _SHIFT_Y) & _AXIS_MASK) - _AXIS_BIAS
    z = (keys & _AXIS_MASK) - _AXIS_BIAS
    return torch.stack([b, x, y, z], dim=1)


def kernel_offsets(kernel_size: int, dilation: int = 1) -> Tensor:
    """``(k^3, 3)`` int64 offsets of a cubic kernel in units of the input tensor stride, x fastest.

    Odd ``k``: ``-(k // 2) .. k // 2`` per axis; even ``k``: ``0 .. k - 1`` (MinkowskiEngine's regions).
    """
    k = _check_int(kernel_size, "kernel_size")
    d = _check_int(dilation, "dilation")
    r = torch.arange(k, dtype=torch.int64) - (k // 2 if k % 2 else 0)
    gz, gy, gx = torch.meshgrid(r, r, r, indexing="ij")
    return torch.stack([gx, gy, gz], dim=-1).reshape(-1, 3) * d


def _check_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------------------
# coordinate sets, kernel maps, the cache


class _CoordTable:
    """One coordinate set: ``coords`` (M, 4), their keys sorted, and the row of each sorted key."""

    __slots__ = ("coords", "hi", "lo", "order", "sorted_keys")

    def __init__(self, coords: Tensor, keys: Tensor, *, keys_sorted: bool = False) -> None:
        self.coords = coords
        if keys_sorted:
            self.sorted_keys, self.order = keys, None
        else:
            self.sorted_keys, self.order = torch.sort(keys)
        if coords.shape[0]:
            self.lo, self.hi = int(coords[:, 1:].min()), int(coords[:, 1:].max())
        else:
            self.lo, self.hi = 0, 0

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    def lookup(self, keys: Tensor) -> Tensor:
        """Row index of every query key, ``-1`` where absent (same shape as ``keys``)."""
        n = len(self)
        if n == 0:
            return torch.full_like(keys, -1)
        pos = torch.searchsorted(self.sorted_keys, keys).clamp_(max=n - 1)
        hit = self.sorted_keys[pos] == keys
        rows = pos if self.order is None else self.order[pos]
        return torch.where(hit, rows, torch.full_like(rows, -1))


@dataclass(eq=False)
class KernelMap:
    """The neighbour pairs of one convolution, grouped by kernel offset.

    Pair ``j`` says "input row ``in_idx[j]`` contributes to output row ``out_idx[j]`` through offset
    ``offset_idx`` of its segment"; ``segments`` lists ``(offset index, start, end)`` ranges into
    ``in_idx`` / ``out_idx`` for the non-empty offsets. ``identity`` is the offset whose pairs are ``(i, i)``
    for every row (the centre of a submanifold convolution); its pairs are not stored.
    """

    in_idx: Tensor
    out_idx: Tensor
    segments: tuple[tuple[int, int, int], ...]
    kernel_volume: int
    n_in: int
    n_out: int
    identity: int | None = None
    _neighbors: Tensor | None = None
    _transposed: KernelMap | None = None

    @property
    def n_pairs(self) -> int:
        """All neighbour pairs, identity ones included."""
        return int(self.in_idx.shape[0]) + (self.n_out if self.identity is not None else 0)

    @property
    def fill(self) -> float:
        """Share of the ``n_out * kernel_volume`` neighbour slots that are occupied."""
        return self.n_pairs / max(1, self.n_out * self.kernel_volume)

    def neighbors(self) -> Tensor:
        """``(n_out, K)`` input row of every neighbour slot, ``n_in`` (a padding row) where empty."""
        if self._neighbors is None:
            device = self.in_idx.device
            nbr = torch.full((self.n_out, self.kernel_volume), self.n_in, dtype=torch.int64, device=device)
            if self.in_idx.numel():
                ks = torch.cat([torch.full((e - s,), k, dtype=torch.int64) for k, s, e in self.segments])
                nbr[self.out_idx, ks.to(device)] = self.in_idx
            if self.identity is not None:
                nbr[:, self.identity] = torch.arange(self.n_out, device=device)
            self._neighbors = nbr
        return self._neighbors

    def transposed(self) -> KernelMap:
        """The same pairs with input and output swapped (the map of the adjoint, transposed convolution)."""
        if self._transposed is None:
            t = KernelMap(
                in_idx=self.out_idx,
                out_idx=self.in_idx,
                segments=self.segments,
                kernel_volume=self.kernel_volume,
                n_in=self.n_out,
                n_out=self.n_in,
                identity=self.identity,
            )
            t._transposed = self
            self._transposed = t
        return self._transposed


class CoordinateCache:
    """Coordinate sets, parent maps and kernel maps shared by all tensors derived from one input.

    Args:
        coords: ``(M, 4)`` integer ``(b, x, y, z)`` of the input, unique rows, multiples of ``stride``.
        stride: tensor stride of ``coords``.

    Raises:
        ValueError: bad shape or dtype, values outside the key's bit budget (see :func:`pack_coords`),
            duplicate rows, or coordinates that are not multiples of ``stride``.
    """

    def __init__(self, coords: Tensor, stride: int = 1) -> None:
        stride = _check_int(stride, "stride")
        coords = _check_coords(coords)
        if stride > 1 and coords.shape[0] and bool((coords[:, 1:] % stride != 0).any()):
            raise ValueError(f"coords at tensor stride {stride} must be multiples of {stride}")
        table = _CoordTable(coords, _pack(coords))
        if len(table) > 1 and bool((table.sorted_keys[1:] == table.sorted_keys[:-1]).any()):
            raise ValueError(
                "coords has duplicate rows; voxelize first (sparse_quantize) so each cell is unique"
            )
        self.device = coords.device
        self._tables: dict[int, _CoordTable] = {stride: table}
        self._parents: dict[tuple[int, int], Tensor] = {}
        self._kernel_maps: dict[tuple[int, int, int, int], KernelMap] = {}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}: {len(t)}" for s, t in sorted(self._tables.items()))
        return f"CoordinateCache(strides {{{sizes}}}, {len(self._kernel_maps)} kernel maps)"

    @property
    def strides(self) -> list[int]:
        """Tensor strides with a coordinate set, ascending."""
        return sorted(self._tables)

    def has(self, stride: int) -> bool:
        """Whether the coordinates of ``stride`` are known."""
        return stride in self._tables

    def _table(self, stride: int) -> _CoordTable:
        if stride not in self._tables:
            raise ValueError(f"no coordinates cached at tensor stride {stride} (cached: {self.strides})")
        return self._tables[stride]

    def coords(self, stride: int) -> Tensor:
        """``(M_s, 4)`` coordinates at tensor ``stride``."""
        return self._table(stride).coords

    def downsample(self, stride: int, factor: int) -> int:
        """Create (once) the coordinates at ``stride * factor``; return that stride.

        The coarse set is ``unique(floor(xyz / (stride * factor)) * (stride * factor))`` per batch, sorted by
        key; the parent map (fine row -> coarse row) is kept as well (:meth:`parent_map`).
        """
        factor = _check_int(factor, "factor")
        out = stride * factor
        if out in self._tables:
            return out
        fine = self._table(stride)
        xyz = torch.div(fine.coords[:, 1:], out, rounding_mode="floor") * out
        if xyz.numel() and int(xyz.min()) < COORD_MIN:
            raise ValueError(
                f"downsampling to tensor stride {out} leaves the coordinate key's range [{COORD_MIN}, {COORD_MAX}]"
            )
        keys = _pack(torch.cat([fine.coords[:, :1], xyz], dim=1))
        uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
        self._tables[out] = _CoordTable(unpack_keys(uniq), uniq, keys_sorted=True)
        self._parents[(stride, out)] = inverse
        return out

    def parent_map(self, fine_stride: int, coarse_stride: int) -> Tensor:
        """``(M_fine,)`` row of the coarse cell holding each fine cell (made by :meth:`downsample`)."""
        key = (fine_stride, coarse_stride)
        if key not in self._parents:
            if coarse_stride % fine_stride or coarse_stride not in self._tables:
                raise ValueError(f"no parent map from tensor stride {fine_stride} to {coarse_stride}")
            fine = self._table(fine_stride)
            xyz = torch.div(fine.coords[:, 1:], coarse_stride, rounding_mode="floor") * coarse_stride
            rows = self._table(coarse_stride).lookup(_pack(torch.cat([fine.coords[:, :1], xyz], dim=1)))
            self._parents[key] = rows
        return self._parents[key]

    def kernel_map(self, in_stride: int, out_stride: int, kernel_size: int, dilation: int = 1) -> KernelMap:
        """Pairs ``(in_row, out_row)`` per offset: input cell = output cell + offset * in_stride (cached).

        Both coordinate sets must exist (an output stride above the input one is created with
        :meth:`downsample` by the strided convolution).
        """
        key = (in_stride, out_stride, kernel_size, dilation)
        kmap = self._kernel_maps.get(key)
        if kmap is None:
            kmap = self._build_kernel_map(in_stride, out_stride, kernel_size, dilation)
            self._kernel_maps[key] = kmap
        return kmap

    def _build_kernel_map(
        self, in_stride: int, out_stride: int, kernel_size: int, dilation: int
    ) -> KernelMap:
        src, dst = self._table(in_stride), self._table(out_stride)
        offsets = kernel_offsets(kernel_size, dilation).to(self.device) * in_stride  # (K, 3)
        n_k = offsets.shape[0]
        identity = n_k // 2 if (in_stride == out_stride and kernel_size % 2) else None
        reach = int(offsets.abs().max())
        dst_keys = dst.sorted_keys if dst.order is None else _pack(dst.coords)
        if dst.lo - reach >= COORD_MIN and dst.hi + reach <= COORD_MAX:  # keys are linear inside the budget
            packed = offsets[:, 0] * (1 << _SHIFT_X) + offsets[:, 1] * (1 << _SHIFT_Y) + offsets[:, 2]
            query = dst_keys[None, :] + packed[:, None]  # (K, M_out)
        else:  # near the edge of the budget: drop neighbours that leave it
            xyz = dst.coords[None, :, 1:] + offsets[:, None, :]
            ok = ((xyz >= COORD_MIN) & (xyz <= COORD_MAX)).all(dim=-1)
            b = dst.coords[:, 0].expand(n_k, -1)
            full = torch.cat([b[..., None], xyz.clamp(COORD_MIN, COORD_MAX)], dim=-1).reshape(-1, 4)
            query = torch.where(ok, _pack(full).reshape(n_k, -1), torch.full_like(ok, -1, dtype=torch.int64))
        rows = src.lookup(query)  # (K, M_out), -1 = absent
        if identity is not None:
            rows[identity] = -1  # centre pairs are (i, i): handled as a plain matmul
        hit = rows >= 0
        k_idx, out_idx = hit.nonzero(as_tuple=True)  # sorted by offset, then output row
        in_idx = rows[k_idx, out_idx]
        counts = hit.sum(dim=1).tolist()
        segments, start = [], 0
        for k, c in enumerate(counts):
            if c:
                segments.append((k, start, start + c))
            start += c
        return KernelMap(
            in_idx=in_idx,
            out_idx=out_idx,
            segments=tuple(segments),
            kernel_volume=n_k,
            n_in=len(src),
            n_out=len(dst),
            identity=identity,
        )


# ---------------------------------------------------------------------------------------------------------
# the sparse tensor


class SparseTensor:
    """Features on occupied voxels: ``feats`` ``(M, C)`` float, ``coords`` ``(M, 4)`` int64 ``(b, x, y, z)``.

    Args:
        feats: ``(M, C)`` floating-point features, one row per coordinate.
        coords: ``(M, 4)`` integer coordinates, unique rows, on the same device as ``feats``.
        stride: tensor stride (coordinates are multiples of it).
        cache: an existing :class:`CoordinateCache` that already holds ``coords`` at ``stride`` (to share maps
            between tensors on the same coordinates); ``None`` makes a new one.

    Raises:
        ValueError: shapes, dtypes or devices that do not fit together, or bad coordinates
            (:class:`CoordinateCache`).
    """

    __slots__ = ("cache", "coords", "feats", "stride")

    def __init__(
        self, feats: Tensor, coords: Tensor, stride: int = 1, *, cache: CoordinateCache | None = None
    ) -> None:
        if not isinstance(feats, Tensor) or feats.ndim != 2 or not feats.dtype.is_floating_point:
            raise ValueError(
                f"feats must be an (M, C) floating-point tensor, got "
                f"{tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__}"
                + (f" {feats.dtype}" if isinstance(feats, Tensor) else "")
            )
        stride = _check_int(stride, "stride")
        if cache is None:
            cache = CoordinateCache(coords, stride)
        elif not cache.has(stride) or cache.coords(stride).shape != coords.shape:
            raise ValueError(f"cache does not hold these coordinates at tensor stride {stride}")
        coords = cache.coords(stride)
        if feats.shape[0] != coords.shape[0]:
            raise ValueError(f"feats has {feats.shape[0]} rows but coords has {coords.shape[0]}")
        if feats.device != coords.device:
            raise ValueError(f"feats is on {feats.device} but coords on {coords.device}")
        self.feats, self.coords, self.stride, self.cache = feats, coords, stride, cache

    @classmethod
    def _derived(cls, feats: Tensor, cache: CoordinateCache, stride: int) -> SparseTensor:
        out = object.__new__(cls)
        out.feats, out.coords, out.stride, out.cache = feats, cache.coords(stride), stride, cache
        return out

    def replace(self, feats: Tensor) -> SparseTensor:
        """Same coordinates (and cache), new ``(M, C')`` features."""
        if feats.ndim != 2 or feats.shape[0] != self.feats.shape[0]:
            raise ValueError(f"feats must have shape ({self.feats.shape[0]}, C), got {tuple(feats.shape)}")
        return SparseTensor._derived(feats, self.cache, self.stride)

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    def __repr__(self) -> str:
        return (
            f"SparseTensor(M={len(self)}, C={self.feats.shape[1]}, stride={self.stride}, "
            f"dtype={self.feats.dtype}, device={self.feats.device})"
        )

    @property
    def num_channels(self) -> int:
        """Feature width ``C``."""
        return int(self.feats.shape[1])

    @property
    def device(self) -> torch.device:
        return self.feats.device

    @property
    def batch_size(self) -> int:
        """``1 + max batch index`` (0 when empty)."""
        return int(self.coords[:, 0].max()) + 1 if len(self) else 0

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> SparseTensor:
        """Move / cast the features; a new device gets a new cache (maps are rebuilt there)."""
        feats = self.feats.to(device=device, dtype=dtype)
        if feats.device == self.feats.device:
            return SparseTensor._derived(feats, self.cache, self.stride)
        return SparseTensor(feats, self.coords.to(feats.device), self.stride)


def sparse_cat(*tensors: SparseTensor) -> SparseTensor:
    """Concatenate the features of tensors on the same coordinates (same cache and stride)."""
    if not tensors:
        raise ValueError("sparse_cat needs at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        if t.cache is not first.cache or t.stride != first.stride:
            raise ValueError(
                "sparse_cat needs tensors on the same coordinates (one CoordinateCache, one stride); got "
                f"strides {[u.stride for u in tensors]}"
            )
    return SparseTensor._derived(torch.cat([t.feats for t in tensors], dim=1), first.cache, first.stride)


# ---------------------------------------------------------------------------------------------------------
# convolution


def sparse_conv(feats: Tensor, weight: Tensor, kmap: KernelMap, algorithm: str = "auto") -> Tensor:
    """``out[o] = sum over pairs (i, o, k) of feats[i] @ weight[k]``: ``(n_in, C_in) -> (n_out, C_out)``.

    Args:
        feats: ``(kmap.n_in, C_in)`` input features.
        weight: ``(K, C_in, C_out)`` one matrix per kernel offset.
        kmap: the neighbour pairs (:meth:`CoordinateCache.kernel_map`, or its :meth:`KernelMap.transposed`).
        algorithm: ``"gather"`` (per-offset gather-matmul-scatter), ``"im2col"`` (one zero-padded neighbour
            matrix and one matmul) or ``"auto"`` (see the module docstring). Same result either way.

    Differentiable in ``feats`` and ``weight`` (first order; custom autograd functions, see the module notes).
    """
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"algorithm must be one of {_ALGORITHMS}, got {algorithm!r}")
    if feats.ndim != 2 or feats.shape[0] != kmap.n_in:
        raise ValueError(f"feats must have shape ({kmap.n_in}, C_in), got {tuple(feats.shape)}")
    if weight.ndim != 3 or weight.shape[0] != kmap.kernel_volume or weight.shape[1] != feats.shape[1]:
        raise ValueError(
            f"weight must have shape ({kmap.kernel_volume}, {feats.shape[1]}, C_out), got {tuple(weight.shape)}"
        )
    if weight.dtype != feats.dtype:  # e.g. under autocast: compute in the wider of the two
        dtype = torch.promote_types(feats.dtype, weight.dtype)
        feats, weight = feats.to(dtype), weight.to(dtype)
    if algorithm == "auto":
        small = kmap.n_out * kmap.kernel_volume * feats.shape[1] <= _IM2COL_MAX_ENTRIES
        algorithm = "im2col" if small and kmap.fill >= _IM2COL_MIN_FILL else "gather"
    if algorithm == "im2col":
        return _conv_im2col(feats, weight, kmap)
    return _conv_gather(feats, weight, kmap)


class _GatherConv(torch.autograd.Function):
    """Gather-matmul-scatter with a hand-written backward.

    Plain autograd through ``gathered[s:e] @ weight[k]`` would allocate a full-size zero gradient for every
    slice (quadratic in the number of offsets); here each backward matmul writes straight into its rows of one
    buffer. Only ``feats`` and ``weight`` are saved; the gathered rows are rebuilt in backward.
    """

    @staticmethod
    def forward(ctx, feats: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:  # type: ignore[override]
        ctx.kmap = kmap
        ctx.save_for_backward(feats, weight)
        if kmap.identity is not None:
            out = feats @ weight[kmap.identity]
        else:
            out = feats.new_zeros(kmap.n_out, weight.shape[2])
        if kmap.segments:
            gathered = feats.index_select(0, kmap.in_idx)
            y = feats.new_empty(gathered.shape[0], weight.shape[2])
            for k, s, e in kmap.segments:
                torch.mm(gathered[s:e], weight[k], out=y[s:e])
            out.index_add_(0, kmap.out_idx, y)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        feats, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        need_feats, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_out = grad_out.contiguous()
        grad_feats = grad_weight = None
        if need_feats:
            if kmap.identity is not None:
                grad_feats = grad_out @ weight[kmap.identity].T
            else:
                grad_feats = feats.new_zeros(feats.shape)
        if need_weight:
            grad_weight = torch.zeros_like(weight)
            if kmap.identity is not None:
                torch.mm(feats.T, grad_out, out=grad_weight[kmap.identity])
        if kmap.segments and (need_feats or need_weight):
            g = grad_out.index_select(0, kmap.out_idx)  # (P, C_out)
            if need_feats:
                tmp = feats.new_empty(g.shape[0], feats.shape[1])
                for k, s, e in kmap.segments:
                    torch.mm(g[s:e], weight[k].T, out=tmp[s:e])
                grad_feats.index_add_(0, kmap.in_idx, tmp)
            if need_weight:
                gathered = feats.index_select(0, kmap.in_idx)
                for k, s, e in kmap.segments:
                    torch.mm(gathered[s:e].T, g[s:e], out=grad_weight[k])
        return grad_feats, grad_weight, None


def _conv_gather(feats: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:
    return _GatherConv.apply(feats, weight, kmap)


class _Im2colConv(torch.autograd.Function):
    """One zero-padded ``(n_out, K * C_in)`` neighbour matrix times ``(K * C_in, C_out)``.

    The neighbour matrix is rebuilt in backward rather than saved (it is ``K`` times the size of ``feats``).
    """

    @staticmethod
    def forward(ctx, feats: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:  # type: ignore[override]
        ctx.kmap = kmap
        ctx.save_for_backward(feats, weight)
        k, c_in, c_out = weight.shape
        return _im2col(feats, kmap) @ weight.reshape(k * c_in, c_out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        feats, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        k, c_in, c_out = weight.shape
        grad_feats = grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = (_im2col(feats, kmap).T @ grad_out).reshape(k, c_in, c_out)
        if ctx.needs_input_grad[0]:
            grad_cols = (grad_out @ weight.reshape(k * c_in, c_out).T).reshape(-1, c_in)
            grad_feats = feats.new_zeros(kmap.n_in + 1, c_in)
            grad_feats.index_add_(0, kmap.neighbors().reshape(-1), grad_cols)
            grad_feats = grad_feats[: kmap.n_in]
        return grad_feats, grad_weight, None


def _im2col(feats: Tensor, kmap: KernelMap) -> Tensor:
    padded = torch.cat([feats, feats.new_zeros(1, feats.shape[1])])
    return padded.index_select(0, kmap.neighbors().reshape(-1)).reshape(kmap.n_out, -1)


def _conv_im2col(feats: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:
    return _Im2colConv.apply(feats, weight, kmap)


def _check_sparse(x: object, channels: int, name: str) -> SparseTensor:
    if not isinstance(x, SparseTensor):
        raise TypeError(f"{name} expects a SparseTensor, got {type(x).__name__}")
    if x.num_channels != channels:
        raise ValueError(f"{name} expects {channels} input channels, got {x.num_channels}")
    return x


class SparseConv3d(nn.Module):
    """Sparse 3D convolution on a :class:`SparseTensor` (MinkowskiEngine's ``MinkowskiConvolution``).

    ``stride=1``: submanifold, the output lives on the input coordinates. ``stride=f > 1``: the output lives
    on ``floor(xyz / (s f)) * (s f)`` of the input's occupied cells (``s`` = input tensor stride), e.g. the
    MinkUNet downsampling ``kernel_size=2, stride=2``. ``weight`` is ``(K, C_in, C_out)``, ``K = k^3``, offset
    order as :func:`kernel_offsets`.

    Args:
        in_channels, out_channels: feature widths.
        kernel_size: cube edge ``k`` (odd: centred; even: anchored at the low corner).
        stride: integer stride factor.
        dilation: spacing of the kernel taps (in units of the input tensor stride).
        bias: add a learned ``(C_out,)`` bias.
        algorithm: ``"auto"`` | ``"gather"`` | ``"im2col"`` (:func:`sparse_conv`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = False,
        algorithm: str = "auto",
    ) -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        self.out_channels = _check_int(out_channels, "out_channels")
        self.kernel_size = _check_int(kernel_size, "kernel_size")
        self.stride = _check_int(stride, "stride")
        self.dilation = _check_int(dilation, "dilation")
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}, got {algorithm!r}")
        self.algorithm = algorithm
        volume = self.kernel_size**3
        self.weight = nn.Parameter(torch.empty(volume, self.in_channels, self.out_channels))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    def _fan(self) -> int:
        return self.in_channels * self.kernel_size**3

    def reset_parameters(self) -> None:
        """MinkowskiEngine's default: uniform ``+-1 / sqrt(fan)`` for weight and bias."""
        bound = 1.0 / math.sqrt(self._fan())
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"dilation={self.dilation}, bias={self.bias is not None}"
        )

    def forward(self, x: SparseTensor) -> SparseTensor:
        x = _check_sparse(x, self.in_channels, type(self).__name__)
        if self.kernel_size == 1 and self.stride == 1:
            out, out_stride = x.feats @ self.weight[0], x.stride
        else:
            out_stride = x.cache.downsample(x.stride, self.stride) if self.stride > 1 else x.stride
            kmap = x.cache.kernel_map(x.stride, out_stride, self.kernel_size, self.dilation)
            out = sparse_conv(x.feats, self.weight, kmap, self.algorithm)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor._derived(out, x.cache, out_stride)


class SparseConvTranspose3d(SparseConv3d):
    """Transposed sparse convolution onto the finer coordinates cached by the encoder.

    The adjoint of :class:`SparseConv3d` with the same ``kernel_size`` / ``stride`` going from the output's
    tensor stride ``s / stride`` to the input's ``s``: every coarse cell scatters ``feats @ weight[k]`` to the
    fine occupied cell at offset ``k`` (MinkowskiEngine's ``MinkowskiConvolutionTranspose`` without new
    coordinates). For ``kernel_size=2, stride=2`` each fine cell receives from exactly its parent.

    Raises (in forward):
        ValueError: the input's stride is not divisible by ``stride``, or the finer coordinates are not in
            the cache (a transposed convolution never invents coordinates).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int = 2,
        dilation: int = 1,
        bias: bool = False,
        algorithm: str = "auto",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, bias, algorithm)

    def _fan(self) -> int:
        return self.out_channels * self.kernel_size**3

    def forward(self, x: SparseTensor) -> SparseTensor:
        x = _check_sparse(x, self.in_channels, type(self).__name__)
        if x.stride % self.stride:
            raise ValueError(f"input tensor stride {x.stride} is not divisible by stride {self.stride}")
        out_stride = x.stride // self.stride
        if not x.cache.has(out_stride):
            raise ValueError(
                f"SparseConvTranspose3d needs the tensor-stride-{out_stride} coordinates from the encoder; "
                f"the cache holds strides {x.cache.strides}"
            )
        kmap = x.cache.kernel_map(out_stride, x.stride, self.kernel_size, self.dilation).transposed()
        out = sparse_conv(x.feats, self.weight, kmap, self.algorithm)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor._derived(out, x.cache, out_stride)


class SparseBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over the voxel features ``(M, C)`` (statistics over all voxels of the batch)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseReLU(nn.Module):
    """ReLU on the voxel features."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        return x.replace(F.relu(x.feats))


class BasicBlock(nn.Module):
    """ResNet basic block: conv3-BN-ReLU-conv3-BN, plus the input (1x1 conv + BN when widths differ), ReLU."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        dilation: int = 1,
        bn_momentum: float = 0.1,
        algorithm: str = "auto",
    ) -> None:
        super().__init__()
        self.conv1 = SparseConv3d(inplanes, planes, 3, dilation=dilation, algorithm=algorithm)
        self.norm1 = SparseBatchNorm(planes, momentum=bn_momentum)
        self.conv2 = SparseConv3d(planes, planes, 3, dilation=dilation, algorithm=algorithm)
        self.norm2 = SparseBatchNorm(planes, momentum=bn_momentum)
        self.downsample: nn.Module | None = None
        if inplanes != planes:
            self.downsample = nn.Sequential(
                SparseConv3d(inplanes, planes, 1, algorithm=algorithm),
                SparseBatchNorm(planes, momentum=bn_momentum),
            )

    def forward(self, x: SparseTensor) -> SparseTensor:
        out = F.relu(self.norm1(self.conv1(x)).feats)
        out = self.norm2(self.conv2(x.replace(out))).feats
        residual = x.feats if self.downsample is None else self.downsample(x).feats
        return x.replace(F.relu(out + residual))


# ---------------------------------------------------------------------------------------------------------
# the U-Net


@dataclass(frozen=True)
class SparseUNetConfig:
    """Hyper-parameters of :class:`SparseUNet`; the defaults are MinkUNet34C (PO3AD's backbone, C = 32).

    ``planes`` and ``layers`` have ``2 n`` entries for ``n`` stride-2 stages: the first ``n`` are the encoder
    stages (widths, BasicBlocks per stage), the last ``n`` the decoder stages. ``planes=(32, 64)``,
    ``layers=(2, 2)`` is PO3AD's ``Mini_Unet``.
    """

    in_channels: int = 3
    out_channels: int = 32
    init_dim: int = 32
    planes: tuple[int, ...] = (32, 64, 128, 256, 256, 128, 96, 96)
    layers: tuple[int, ...] = (2, 3, 4, 6, 2, 2, 2, 2)
    stem_kernel: int = 5
    bn_momentum: float = 0.1
    algorithm: str = "auto"

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "init_dim", "stem_kernel"):
            _check_int(getattr(self, name), f"SparseUNetConfig.{name}")
        if len(self.planes) != len(self.layers) or len(self.planes) < 2 or len(self.planes) % 2:
            raise ValueError(
                "SparseUNetConfig.planes and .layers must have the same even length 2n >= 2, got "
                f"{len(self.planes)} and {len(self.layers)}"
            )
        for p in self.planes:
            _check_int(p, "SparseUNetConfig.planes entries")
        for n in self.layers:
            _check_int(n, "SparseUNetConfig.layers entries", minimum=0)
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(
                f"SparseUNetConfig.algorithm must be one of {_ALGORITHMS}, got {self.algorithm!r}"
            )

    @property
    def num_stages(self) -> int:
        """Number ``n`` of stride-2 stages."""
        return len(self.planes) // 2

    @property
    def total_stride(self) -> int:
        """Tensor stride of the deepest level, ``2^n``."""
        return 2**self.num_stages

    @classmethod
    def minkunet34c(cls, in_channels: int = 3, out_channels: int = 32, **kw: object) -> SparseUNetConfig:
        """MinkUNet34C: layers (2, 3, 4, 6, 2, 2, 2, 2), planes (32, 64, 128, 256, 256, 128, 96, 96)."""
        return cls(in_channels=in_channels, out_channels=out_channels, **kw)  # type: ignore[arg-type]

    @classmethod
    def small(
        cls,
        width: int = 16,
        blocks: int = 1,
        in_channels: int = 3,
        out_channels: int = 32,
        stages: int = 4,
        **kw: object,
    ) -> SparseUNetConfig:
        """A light U-Net: MinkUNet-C width ratios scaled to ``width``, ``blocks`` BasicBlocks per stage.

        Encoder widths ``width * (1, 2, 4, 8, ...)``, decoder ``width * (8, 4, 3, 3)`` for four stages (the C
        variant's 256, 128, 96, 96 over 32); ``stem_kernel`` defaults to 3 here.
        """
        width = _check_int(width, "width")
        stages = _check_int(stages, "stages")
        enc = tuple(width * 2**i for i in range(stages))
        dec = tuple(width * max(3, 2 ** (stages - 1 - j)) for j in range(stages))
        kw.setdefault("stem_kernel", 3)
        return cls(
            in_channels=in_channels,
            out_channels=out_channels,
            init_dim=width,
            planes=enc + dec,
            layers=(blocks,) * (2 * stages),
            **kw,  # type: ignore[arg-type]
        )


class SparseUNet(nn.Module):
    """MinkUNet: sparse ResNet encoder-decoder with skip concatenation (MinkowskiEngine's ``MinkUNetBase``).

    ``forward(x)`` takes a stride-1 :class:`SparseTensor` with ``in_channels`` features and returns
    ``out_channels`` features on the same coordinates, in the same row order.
    """

    def __init__(self, config: SparseUNetConfig = SparseUNetConfig()) -> None:
        super().__init__()
        c = self.config = config
        n, mom, alg = c.num_stages, c.bn_momentum, c.algorithm
        self.stem = SparseConv3d(c.in_channels, c.init_dim, c.stem_kernel, algorithm=alg)
        self.stem_norm = SparseBatchNorm(c.init_dim, momentum=mom)
        self.down, self.down_norm, self.encoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.up, self.up_norm, self.decoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        inplanes, skips = c.init_dim, [c.init_dim]
        for i in range(n):
            self.down.append(SparseConv3d(inplanes, inplanes, 2, stride=2, algorithm=alg))
            self.down_norm.append(SparseBatchNorm(inplanes, momentum=mom))
            self.encoder.append(self._stage(inplanes, c.planes[i], c.layers[i]))
            inplanes = c.planes[i] if c.layers[i] else inplanes
            skips.append(inplanes)
        for j in range(n):
            planes = c.planes[n + j]
            self.up.append(SparseConvTranspose3d(inplanes, planes, 2, stride=2, algorithm=alg))
            self.up_norm.append(SparseBatchNorm(planes, momentum=mom))
            inplanes = planes + skips[n - 1 - j]
            self.decoder.append(self._stage(inplanes, planes, c.layers[n + j]))
            inplanes = planes if c.layers[n + j] else inplanes
        self.final = SparseConv3d(inplanes, c.out_channels, 1, bias=True, algorithm=alg)
        self._init_weights()

    def _stage(self, inplanes: int, planes: int, blocks: int) -> nn.Sequential:
        c = self.config
        mods = [
            BasicBlock(inplanes if b == 0 else planes, planes, 1, c.bn_momentum, c.algorithm)
            for b in range(blocks)
        ]
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        for m in self.modules():
            if type(m) is SparseConv3d:  # PO3AD / MinkowskiEngine: Kaiming normal, fan_out = K * C_out, ReLU
                std = math.sqrt(2.0 / (m.weight.shape[0] * m.out_channels))
                nn.init.normal_(m.weight, 0.0, std)
            elif isinstance(m, SparseBatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if not isinstance(x, SparseTensor):
            raise TypeError(f"SparseUNet expects a SparseTensor, got {type(x).__name__}")
        if x.stride != 1:
            raise ValueError(f"SparseUNet expects a tensor-stride-1 input, got stride {x.stride}")
        relu = F.relu
        out = x.replace(relu(self.stem_norm(self.stem(x)).feats))
        skips = [out]
        for down, norm, stage in zip(self.down, self.down_norm, self.encoder, strict=True):
            out = norm(down(out))
            out = stage(out.replace(relu(out.feats)))
            skips.append(out)
        skips.pop()  # the deepest level feeds the decoder directly
        for up, norm, stage in zip(self.up, self.up_norm, self.decoder, strict=True):
            out = norm(up(out))
            out = stage(sparse_cat(out.replace(relu(out.feats)), skips.pop()))
        return self.final(out)


def minkunet34c(in_channels: int = 3, out_channels: int = 32, **kw: object) -> SparseUNet:
    """A :class:`SparseUNet` with the MinkUNet34C configuration (PO3AD's backbone)."""
    return SparseUNet(SparseUNetConfig.minkunet34c(in_channels, out_channels, **kw))


# ---------------------------------------------------------------------------------------------------------
# points <-> voxels


def sparse_quantize(
    points: Tensor,
    voxel_size: float,
    batch_index: Tensor | None = None,
    *,
    features: Tensor | None = None,
    reduce: str = "mean",
) -> tuple[Tensor, Tensor, Tensor]:
    """Voxelize (a batch of) clouds: one row per occupied cell ``floor(p / voxel_size)`` of each cloud.

    Args:
        points: ``(N, 3)`` float coordinates (all clouds stacked).
        voxel_size: edge of a voxel, ``> 0`` (PO3AD: 0.03 on clouds scaled to ``[-1, 1]``).
        batch_index: ``(N,)`` integer cloud of every point, ``None`` = one cloud (all zeros).
        features: ``(N, C)`` per-point features to reduce; ``None`` uses ``points`` (PO3AD feeds xyz).
        reduce: ``"mean"`` (default): average of the voxel's points, independent of the point order and
            differentiable; ``"first"``: the features of the voxel's lowest-index point, what PO3AD's official
            code feeds (``ME.utils.sparse_quantize(xyz, xyz)`` keeps one point per voxel).

    Returns:
        ``coords`` ``(M, 4)`` int64 ``(b, x, y, z)`` sorted by ``(b, x, y, z)``, ``point_to_voxel`` ``(N,)``
        int64 row of each point, ``voxel_features`` ``(M, C)``. The grid is anchored at the origin (floor of
        ``p / voxel_size``, computed in float64), as MinkowskiEngine's ``sparse_quantize``.

    Raises:
        ValueError: bad shapes, a non-positive ``voxel_size``, an unknown ``reduce``, non-finite points, or
            cells outside the coordinate key's budget (see :func:`pack_coords`).
    """
    if not isinstance(points, Tensor):
        points = torch.as_tensor(np.asarray(points))
    if points.ndim != 2 or points.shape[1] != 3 or not points.dtype.is_floating_point:
        raise ValueError(f"points must be an (N, 3) float tensor, got {tuple(points.shape)} {points.dtype}")
    if isinstance(voxel_size, bool) or not isinstance(voxel_size, (int, float)) or not voxel_size > 0:
        raise ValueError(f"voxel_size must be a positive number, got {voxel_size!r}")
    if not math.isfinite(float(voxel_size)):
        raise ValueError(f"voxel_size must be finite, got {voxel_size!r}")
    if reduce not in ("mean", "first"):
        raise ValueError(f"reduce must be 'mean' or 'first', got {reduce!r}")
    n = points.shape[0]
    if not bool(torch.isfinite(points).all()):
        raise ValueError("points contains NaN or inf")
    if batch_index is None:
        batch = torch.zeros(n, dtype=torch.int64, device=points.device)
    else:
        if batch_index.shape != (n,) or batch_index.dtype.is_floating_point:
            raise ValueError(f"batch_index must be an ({n},) integer tensor, got {tuple(batch_index.shape)}")
        batch = batch_index.to(device=points.device, dtype=torch.int64)
    src = points if features is None else features
    if src.ndim != 2 or src.shape[0] != n:
        raise ValueError(f"features must have shape ({n}, C), got {tuple(src.shape)}")
    grid = torch.floor(points.detach().to(torch.float64) / float(voxel_size))
    if n and float(grid.abs().max()) > 2**40:
        raise ValueError(f"voxel_size={voxel_size} is far too small for the cloud's extent")
    keys = pack_coords(torch.cat([batch[:, None], grid.to(torch.int64)], dim=1))
    uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    m = uniq.shape[0]
    if reduce == "mean":
        total = src.new_zeros((m, src.shape[1])).index_add(0, inverse, src)
        counts = torch.bincount(inverse, minlength=m).to(src.dtype)
        vfeat = total / counts[:, None]
    else:
        first = torch.full((m,), n, dtype=torch.int64, device=points.device)
        first = first.scatter_reduce(0, inverse, torch.arange(n, device=points.device), reduce="amin")
        vfeat = src[first]
    return unpack_keys(uniq), inverse, vfeat


def voxel_to_point(feats: Tensor | SparseTensor, point_to_voxel: Tensor) -> Tensor:
    """Give every point its voxel's features: ``(M, C)`` (or a :class:`SparseTensor`) -> ``(N, C)``."""
    f = feats.feats if isinstance(feats, SparseTensor) else feats
    if point_to_voxel.ndim != 1 or point_to_voxel.dtype.is_floating_point:
        raise ValueError(f"point_to_voxel must be an (N,) integer tensor, got {tuple(point_to_voxel.shape)}")
    if point_to_voxel.numel() and (int(point_to_voxel.min()) < 0 or int(point_to_voxel.max()) >= f.shape[0]):
        raise ValueError(f"point_to_voxel indexes outside the {f.shape[0]} voxels")
    return f.index_select(0, point_to_voxel.to(device=f.device, dtype=torch.int64))
