"""Secrets never reach the log output."""

import logging
import sys

import pytest

from predictflow_contract import json_escaped
from predictflow_runtime.redaction import MASK, RedactingFormatter, redact, secrets_from_env

pytestmark = pytest.mark.unit


def test_known_secret_values_are_masked_anywhere():
    assert redact("auth failed for hunter2 at redis:6379", ["hunter2"]) == f"auth failed for {MASK} at redis:6379"


def test_password_parameters_are_masked_even_when_the_value_is_unknown():
    text = "connection_string 'redis:6379,ssl=true,password=abc123,db=0'"
    assert redact(text) == f"connection_string 'redis:6379,ssl=true,password={MASK},db=0'"


def test_secrets_are_every_password_env_var_and_nothing_else():
    environ = {"REDIS_PASSWORD": "s3cret", "PREDICTFLOW_COMPARE_PASSWORD": "other", "HOME": "/root"}
    assert set(secrets_from_env(environ)) >= {"s3cret", "other"}
    assert "/root" not in secrets_from_env(environ)
    assert secrets_from_env({"REDIS_PASSWORD": ""}) == []


def test_the_escaped_form_feast_receives_is_masked_too():
    password = "p@ss,w0rd"
    escaped = json_escaped(password)
    text = f"connection_string 'redis:6379,password={escaped}'"
    assert password not in escaped  # the raw value alone would not find it
    assert escaped not in redact(text, secrets_from_env({"REDIS_PASSWORD": password}))


def test_formatter_masks_messages_and_tracebacks():
    formatter = RedactingFormatter("%(message)s", ["s3cret"])
    try:
        raise ValueError("bad password s3cret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", ("s3cret",), sys.exc_info())
    output = formatter.format(record)
    assert "s3cret" not in output
    assert "bad password" in output and "ValueError" in output
