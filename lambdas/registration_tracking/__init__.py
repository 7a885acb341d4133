"""MLflow run tagging: a newly registered version tags the run that trained it."""
