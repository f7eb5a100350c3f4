"""The library's errors and warnings about a model or its data (no imports: every module
may raise them)."""


class SpecificationError(ValueError):
    """The model specification is inconsistent or not identified."""


class DataError(ValueError):
    """The data do not fit the model; the message names the column and person."""


class UnobservedLevelWarning(UserWarning):
    """An ordered level that nobody chose: its neighbouring thresholds are not identified."""
