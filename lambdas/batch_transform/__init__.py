"""Start a Batch Transform job with each approved version of the project's model package."""
