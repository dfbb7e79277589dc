"""Generated credentials: alphanumeric, so they survive Feast's comma/equals connection-string syntax
and ElastiCache's AUTH token rules (16-128 printable characters, no / " @ or space)."""

import json
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Characters a password cannot hold once it travels through the pods' configs: a Redis config line
# (whitespace, quotes, backslash), Feast's connection string (`,` `=`) and the ${VAR} expansion
# Feast runs over feature_store.yaml before parsing it (`$`).
_FORBIDDEN = set(" \"'\\,=$")


def generate(length: int = 40) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def placement_problem(password: str) -> str | None:
    """Why `password` cannot be given to Redis and its clients as it is, or None. The answer names
    the kind of character, never the password."""
    if not password:
        return "is empty"
    if any(not " " <= c <= "~" for c in password):
        return "holds a newline, control or non-ASCII character"
    if " " in password:
        return "holds a space"
    if _FORBIDDEN & set(password):
        return "holds one of \" ' \\ , = $"
    try:
        json.loads(password)
    except ValueError:
        return None
    return "reads as a JSON literal (a number, true, false or null), which Feast's connection string would not pass as text"
