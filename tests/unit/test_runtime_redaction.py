"""Secrets never reach the log output."""

import logging
import sys

import pytest

from predictflow_runtime.redaction import MASK, RedactingFormatter, redact, secrets_from_env

pytestmark = pytest.mark.unit


def test_known_secret_values_are_masked_anywhere():
    assert redact("auth failed for hunter2 at redis:6379", ["hunter2"]) == f"auth failed for {MASK} at redis:6379"


def test_password_parameters_are_masked_even_when_the_value_is_unknown():
    text = "connection_string 'redis:6379,ssl=true,password=abc123,db=0'"
    assert redact(text) == f"connection_string 'redis:6379,ssl=true,password={MASK},db=0'"


def test_secrets_come_from_the_secret_env_vars_only():
    assert secrets_from_env({"REDIS_PASSWORD": "s3cret", "HOME": "/root"}) == ["s3cret"]
    assert secrets_from_env({"REDIS_PASSWORD": ""}) == []


def test_formatter_masks_messages_and_tracebacks():
    formatter = RedactingFormatter("%(message)s", ["s3cret"])
    try:
        raise ValueError("bad password s3cret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", ("s3cret",), sys.exc_info())
    output = formatter.format(record)
    assert "s3cret" not in output
    assert "bad password" in output and "ValueError" in output
