"""anomaly3d.methods."""
