class RecordError(ValueError):
    """A bad record in an imported file: says which line and field, and what is wrong."""

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}: field {field}: {message}")
        self.line = line
        self.field = field
        self.message = message

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "error": self.message}
