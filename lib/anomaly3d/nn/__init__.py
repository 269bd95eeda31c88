"""anomaly3d.nn."""
