"""Data in the workspace: transcript files parsed, personal data masked, data sets stored in DuckDB."""
