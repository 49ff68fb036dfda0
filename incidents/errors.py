"""Domain errors of the incident domain; views and the API map them to 4xx answers."""


class IncidentError(ValueError):
    """Base class of the incident domain's rule violations."""


class IncidentTransitionError(IncidentError):
    """A status change the lifecycle does not allow."""


class IngestValidationError(ValueError):
    """A batch of events was refused; `errors` names each bad event's index, field and reason."""

    def __init__(self, errors: list[dict], message: str = "the batch was refused: no event was stored"):
        super().__init__(message)
        self.errors = errors
        self.message = message


class IngestRejected(ValueError):
    """The request as a whole is unacceptable (size, content type, encoding); `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status
