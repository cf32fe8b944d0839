"""Measured comparisons of automl against the tools a user would otherwise use (see RESULTS.md)."""
