"""Readers and writers for the raw on-disk formats of the four datasets.

=====================  ============================================  =====================================
format                 read                                          write (atomic: temp file + rename)
=====================  ============================================  =====================================
PCD (ascii, binary,    :func:`read_pcd`, :func:`read_pcd_header`,    :func:`write_pcd`
binary_compressed)     :func:`check_pcd`
GT txt (x y z label)   :func:`read_gt_txt`, :func:`count_gt_rows`    :func:`write_gt_txt`
xyz TIFF (H×W×3 f32)   :func:`read_xyz_tiff`, :func:`check_xyz_tiff`  :func:`write_xyz_tiff`
PNG (mask / RGB)       :func:`read_mask_png`, :func:`read_rgb_png`,  :func:`write_png`
                       :func:`read_png`, :func:`check_png`
OFF mesh               :func:`read_off`, :func:`read_off_counts`     :func:`write_off`
OBJ mesh + normals     :func:`read_obj`                              :func:`write_obj`
=====================  ============================================  =====================================

Every reader raises :class:`anomaly3d.data.DataError` naming the file and what is wrong; writers raise
``ValueError`` for bad arrays.
"""

from anomaly3d.atomic import atomic_path
from anomaly3d.data.io.gt_txt import count_gt_rows, read_gt_txt, sniff_gt_delimiter, write_gt_txt
from anomaly3d.data.io.images import (
    check_png,
    check_xyz_tiff,
    read_mask_png,
    read_png,
    read_rgb_png,
    read_xyz_tiff,
    write_png,
    write_xyz_tiff,
)
from anomaly3d.data.io.mesh import Mesh, read_obj, read_off, read_off_counts, write_obj, write_off
from anomaly3d.data.io.pcd import (
    PCD_DATA_FORMATS,
    PcdHeader,
    PointCloud,
    check_pcd,
    lzf_compress_literal,
    lzf_decompress,
    read_pcd,
    read_pcd_header,
    write_pcd,
)

__all__ = [
    "PCD_DATA_FORMATS",
    "Mesh",
    "PcdHeader",
    "PointCloud",
    "atomic_path",
    "check_pcd",
    "check_png",
    "check_xyz_tiff",
    "count_gt_rows",
    "lzf_compress_literal",
    "lzf_decompress",
    "read_gt_txt",
    "read_mask_png",
    "read_obj",
    "read_off",
    "read_off_counts",
    "read_pcd",
    "read_pcd_header",
    "read_png",
    "read_rgb_png",
    "read_xyz_tiff",
    "sniff_gt_delimiter",
    "write_gt_txt",
    "write_obj",
    "write_off",
    "write_pcd",
    "write_png",
    "write_xyz_tiff",
]
