"""anomaly3d.ops."""
