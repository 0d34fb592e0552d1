"""The error of an export option a person chose that cannot work, raised by the options and
by what reads them (selection.py, pipeline.py); its message names the option to change."""

import re

from annotation.jobs.typed_json import WHOLE, ParamsError

_OPTION = re.compile(r"[a-z_][a-z0-9_.\[\]]*")


class ExportOptionError(ParamsError, ValueError):
    """An option a person chose that cannot work, written "option: reason" (or a reason about
    the export as a whole): a ParamsError on that option, so that a form or an API request
    answers it under the option's name."""

    def __init__(self, message: str) -> None:
        option, colon, reason = message.partition(": ")
        if not colon or not _OPTION.fullmatch(option):
            option, reason = WHOLE, message
        super().__init__(option, reason)

    def __str__(self) -> str:
        return self.detail
