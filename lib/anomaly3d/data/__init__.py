"""anomaly3d.data: the Sample type, the real-format loaders, the embedded synthetic benchmark."""

from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = ["GOOD", "DataError", "Sample"]
