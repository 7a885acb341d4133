"""User-facing errors: the CLIs print these as one message, without a traceback."""


class ForecastingError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class DataValidationError(ForecastingError, ValueError):
    """A data file is malformed; the message names the file, column and line."""


class ConfigError(ForecastingError, ValueError):
    """A configuration is impossible, e.g. a horizon longer than the data."""
