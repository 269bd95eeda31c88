"""The embedded synthetic benchmark: procedural shapes, Anomaly-ShapeNet-style defects with exact per-point
ground truth, and writers for the three real on-disk formats.

Nobody needs the real datasets to run the notebooks, tests and reports: they run on data this package
generates and writes in the real formats, so the same loaders are exercised.

* :mod:`~anomaly3d.data.synthetic.shapes` — 12 parameterised object categories (watertight meshes).
* :mod:`~anomaly3d.data.synthetic.defects` — bulge, concavity, hole, break, bending, crack (+ stain and
  discolouration for colour images), each with exact ground truth, size and severity.
* :mod:`~anomaly3d.data.synthetic.scan`, :mod:`~anomaly3d.data.synthetic.samples`,
  :mod:`~anomaly3d.data.synthetic.scene` — surface sampling, 360-degree and one-sided scans, organized images.
* :mod:`~anomaly3d.data.synthetic.writers` — the Anomaly-ShapeNet, Real3D-AD and MVTec 3D-AD layouts.
* :func:`generate` / :func:`ensure_benchmark` — one call per format; ``python -m anomaly3d.data.synthetic
  <format> <out> --profile quick --seed 0`` from a shell.
"""

from anomaly3d.data.synthetic.benchmark import (
    DEFAULT_FRACTION,
    DEFAULT_SEVERITY,
    FORMATS,
    GENERATOR_VERSION,
    default_cache_dir,
    defect_types,
    ensure_benchmark,
    generate,
    generator_stamp,
)
from anomaly3d.data.synthetic.defects import APPEARANCE_DEFECTS, DEFECT_TYPES, GEOMETRIC_DEFECTS
from anomaly3d.data.synthetic.shapes import CATEGORIES

__all__ = [
    "APPEARANCE_DEFECTS",
    "CATEGORIES",
    "DEFAULT_FRACTION",
    "DEFAULT_SEVERITY",
    "DEFECT_TYPES",
    "FORMATS",
    "GENERATOR_VERSION",
    "GEOMETRIC_DEFECTS",
    "default_cache_dir",
    "defect_types",
    "ensure_benchmark",
    "generate",
    "generator_stamp",
]
