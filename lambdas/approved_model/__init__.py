"""The pipeline's FindApprovedModel step: the model a new version is compared with."""
