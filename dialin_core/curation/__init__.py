"""The analyst's review of a run, its audit trail, and the curated data set it exports."""
