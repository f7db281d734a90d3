"""Intent names: the action-objective form, keyword names, and merges of clusters named alike."""
