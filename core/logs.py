"""Logging of every process (web, workers, CLI): plain text by default, one JSON object per
line with LOG_FORMAT=json (python-json-logger's formatter).

Every record carries the process's role and, inside a request, its request id and account
id (from context variables set by ``web/access.py``). What must never reach a log is
kept out twice: the code logs route templates and ids, never raw paths, user names, form
fields or frames; and a filter rewrites anything that still looks like an 18-character ID
number (身份证号, how physicians log in) or a session cookie before any handler sees it.
"""

from __future__ import annotations

import logging
import logging.config
import re
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from core.settings import Settings

request_id: ContextVar[str] = ContextVar("request_id", default="")
account_id: ContextVar[int | None] = ContextVar("account_id", default=None)

ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
SESSION_COOKIE = re.compile(r"(xjdk_session=)[A-Za-z0-9_\-]+")
HIDDEN_ID = "[身份证号已隐去]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process_role)s[%(process)d] %(name)s%(rid)s: %(message)s"
JSON_FIELDS = "{levelname}{name}{message}{process}"


def redact(text: str) -> str:
    """``text`` without anything shaped like an ID number or a session cookie."""
    return SESSION_COOKIE.sub(r"\1[已隐去]", ID_NUMBER.sub(HIDDEN_ID, text))


class ContextFilter(logging.Filter):
    """Adds the process role, and the request's id and account when there is one."""

    def __init__(self, role: str = "", text: bool = False) -> None:
        super().__init__()
        self.role = role
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_role = self.role
        found = request_id.get()
        if self.text:  # the text line shows the request id; JSON has it as a field
            record.rid = f" [{found}]" if found else ""
        if found and not hasattr(record, "request_id"):
            record.request_id = found
        account = account_id.get()
        if account is not None and not hasattr(record, "account_id"):
            record.account_id = account
        return True


class RedactFilter(logging.Filter):
    """The message and any exception text, rendered and cleaned before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # formatted above: the formatter uses exc_text as it is
        return True


def log_config(settings: Settings, role: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for a process of ``role`` (web, face, mail, cli);
    uvicorn applies it in each of its worker processes too (``log_config=``)."""
    if settings.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "style": "{",
            "timestamp": "time",  # ISO 8601, UTC
            "rename_fields": {"levelname": "level", "name": "logger"},
            "static_fields": {"role": role},
            "reserved_attrs": [*RESERVED_ATTRS, "process_role", "taskName"],
            "json_ensure_ascii": False,
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {
                "()": "core.logs.ContextFilter",
                "role": role,
                "text": settings.log_format == "text",
            },
            "redact": {"()": "core.logs.RedactFilter"},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["context", "redact"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own loggers go through ours; its access log names raw paths with
            # their query strings (an ID number searched for), so ours replaces it.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "tortoise": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},  # a line per request, with its query string
            "httpcore": {"level": "WARNING"},
            "websockets": {"level": "WARNING"},
            "aiosqlite": {"level": "WARNING"},
            "asyncio": {"level": "WARNING"},
        },
    }


def setup(settings: Settings, role: str) -> None:
    logging.config.dictConfig(log_config(settings, role))
