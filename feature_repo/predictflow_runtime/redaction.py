"""Keep secrets out of log output: redact known secret values and `password=` parameters."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

import predictflow_contract as contract

MASK = "***"
_PASSWORD_PARAMETER = re.compile(r"(password=)[^,\s'\"]+", re.IGNORECASE)


def secrets_from_env(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every password the pod holds, as given and in the escaped form Feast's config receives."""
    passwords = [environ[name] for name in contract.PASSWORD_ENVS if environ.get(name)]
    return passwords + [contract.json_escaped(password) for password in passwords]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _PASSWORD_PARAMETER.sub(rf"\g<1>{MASK}", text)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, exception text included."""

    def __init__(self, fmt: str | None = None, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)
