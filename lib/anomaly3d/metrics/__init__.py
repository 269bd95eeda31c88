"""anomaly3d.metrics."""
