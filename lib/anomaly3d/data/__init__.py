"""anomaly3d.data: the Sample type, the real-format loaders, the manifests and ``verify``.

Datasets (ids): ``mvtec3d-ad``, ``real3d-ad``, ``anomaly-shapenet`` (v1 and v2 layouts), ``modelnet10``.

    from anomaly3d.data import load_split, verify
    train = load_split("real3d-ad", "/data/Real3D-AD-PCD", "airplane", "train")   # lazy: read on access
    test = load_split("mvtec3d-ad", root, "bagel", "test", preprocess="btf", resize=224)
    report = verify("real3d-ad", "/data/Real3D-AD-PCD")                           # or: python -m anomaly3d.data verify …

The format modules (and open3d/tifffile/pillow) are imported on first use, so ``import anomaly3d.data`` stays cheap.
"""

from anomaly3d.data.sample import GOOD, DataError, Sample  # noqa: I001  (Sample first: everything uses it)
from anomaly3d.data.formats.records import LazySamples, SampleRecord
from anomaly3d.data.manifest import Manifest, find_manifest, load_manifest
from anomaly3d.data.registry import DATASETS, get_format, list_categories, load_split
from anomaly3d.data.verify import VerifyReport, verify

__all__ = [
    "DATASETS",
    "GOOD",
    "DataError",
    "LazySamples",
    "Manifest",
    "Sample",
    "SampleRecord",
    "VerifyReport",
    "find_manifest",
    "get_format",
    "list_categories",
    "load_manifest",
    "load_split",
    "verify",
]
