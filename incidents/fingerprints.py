"""Message signatures: the same alert with other numbers, ids or hosts gets the same fingerprint."""
import re

_VARIABLE = re.compile(
    r"""
    [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}  # uuids
    | \b0x[0-9a-f]+\b                                           # hex literals
    | \b[0-9a-f]{12,}\b                                         # long hex ids, hashes
    | \b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b                      # IPv4 addresses, ports
    | [-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?                          # numbers (and the digits in names)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SPACES = re.compile(r"\s+")


def message_signature(message: str) -> str:
    """The message with its variable parts replaced by <*>, lower-cased, spaces folded."""
    return _SPACES.sub(" ", _VARIABLE.sub("<*>", message.lower())).strip()[:100]
