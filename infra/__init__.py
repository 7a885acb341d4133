"""CDK constructs for the forecasting MLOps stack, one module per concern."""
