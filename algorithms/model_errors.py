"""The one error a model config's checks raise (algorithms.model_policy, algorithms.endpoints)."""


class PolicyViolation(ValueError):
    """A model config asks for something the operator's policy does not allow; `field` names
    the config field to change. Never worth a retry (tasks read `retryable`)."""

    retryable = False

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
