"""The error of an export option a person chose that cannot work, raised by the options and
by what reads them (selection.py, pipeline.py); its message names the option to change."""


class ExportOptionError(ValueError):
    """An option a person chose that cannot work; the message names the option to change."""
