"""anomaly3d.reports."""
