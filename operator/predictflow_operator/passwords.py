"""Generated credentials: alphanumeric, so they survive Feast's comma/equals connection-string syntax
and ElastiCache's AUTH token rules (16-128 printable characters, no / " @ or space)."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def generate(length: int = 40) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
