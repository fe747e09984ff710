"""Turn Earth Engine and transport exceptions into plain messages, and say which are worth
retrying.

``ee`` reports every server error as ``ee.EEException`` carrying only the server's reason
text (the HTTP status is dropped), so the kind of failure is read from that text; exceptions
that still carry a status (``googleapiclient.errors.HttpError``) or are transport failures
(timeouts, dropped connections) are classified directly. Messages are scrubbed of anything
that looks like key material before they reach a user or a log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: How to connect, appended to "not connected" messages.
HOW_TO_CONNECT = (
    "Add a service-account key to .streamlit/secrets.toml ([gee] service_account_key and "
    "project) or set EE_SERVICE_ACCOUNT_KEY and EE_PROJECT, or run `earthengine authenticate` "
    "and set EE_PROJECT; then restart the app or rerun the command. See README, "
    "'Connecting Earth Engine'."
)

_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.S)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{40,}")

_AUTH = re.compile(r"invalid_grant|expired|revoked|unauthenticated|invalid authentication|"
                   r"\b401\b|please authori[sz]e|refresh token|invalid_client|"
                   r"invalid jwt|credentials", re.I)
_PERMISSION = re.compile(r"permission|\b403\b|not registered|has not been used in project|"
                         r"not authorized|access denied|forbidden", re.I)
_QUOTA = re.compile(r"quota|resource[_ ]exhausted", re.I)
_RATE = re.compile(r"\b429\b|too many (concurrent|requests)|rate limit|concurrency limit", re.I)
_SERVER = re.compile(r"\b50[0234]\b|internal error|service unavailable|backend error|"
                     r"bad gateway|temporarily|try again|deadline exceeded|"
                     r"connection (reset|aborted|refused)|timed? ?out", re.I)
_MEMORY = re.compile(r"memory limit|computation timed out|too many pixels|"
                     r"aggregation.*too large", re.I)
_EMPTY = re.compile(r"did not match any bands|no bands|empty collection|"
                    r"Image\.select: Parameter 'input' is required", re.I)


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong: ``kind`` (auth, permission, quota, rate, server, memory, empty,
    other), whether retrying may help, and a plain sentence for the user."""

    kind: str
    retryable: bool
    message: str


def scrub(text: str) -> str:
    """Remove PEM blocks and long token-like strings (keys, access tokens) from text."""
    text = _PEM.sub("[removed]", text)
    return _LONG_TOKEN.sub("[removed]", text)


def _status_of(exc: BaseException) -> int | None:
    resp = getattr(exc, "resp", None)  # googleapiclient.errors.HttpError
    status = getattr(resp, "status", None) or getattr(exc, "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return scrub(line)[:200]


def diagnose(exc: BaseException, what: str = "the request") -> Diagnosis:
    """Classify an exception from an Earth Engine call.

    Args:
        exc: the exception raised by ``ee`` (``EEException``), googleapiclient, google-auth
            or the transport.
        what: a few words naming the request, used in the message (e.g. "part 3 of 12 of
            the composite").

    Returns:
        A :class:`Diagnosis`; its message never contains key material.
    """
    status = _status_of(exc)
    text = str(exc)
    name = type(exc).__name__
    detail = _first_line(exc)
    if name == "RefreshError" or status == 401 or (_AUTH.search(text) and not _QUOTA.search(text)):
        return Diagnosis("auth", False,
                         "Not connected: Earth Engine refused the credentials (they are missing, "
                         "expired or revoked). " + HOW_TO_CONNECT)
    if status == 403 or _PERMISSION.search(text):
        return Diagnosis("permission", False,
                         "Earth Engine refused access: the Cloud project must be registered "
                         "for Earth Engine and the account needs the 'Earth Engine Resource "
                         f"Viewer' (or Writer, for exports) role. Server said: {detail}")
    if _QUOTA.search(text):
        return Diagnosis("quota", True,
                         "Earth Engine's quota for this project is used up for now. Wait a few "
                         "minutes and try again, or choose a smaller area.")
    if status == 429 or _RATE.search(text):
        return Diagnosis("rate", True,
                         "Earth Engine is receiving too many requests from this project. Wait "
                         "a minute and try again.")
    if (status is not None and 500 <= status < 600) or _SERVER.search(text) or isinstance(
            exc, (TimeoutError, ConnectionError)) or "Timeout" in name or "Connection" in name:
        if _MEMORY.search(text):
            return _memory(detail)
        return Diagnosis("server", True,
                         f"Earth Engine did not answer {what} (server busy or network "
                         "problem). Try again in a few minutes.")
    if _MEMORY.search(text):
        return _memory(detail)
    if _EMPTY.search(text):
        return Diagnosis("empty", False,
                         "No clear Sentinel-2 image covers this area in the chosen dates. "
                         "Widen the date range or lower the Cloud Score+ threshold.")
    return Diagnosis("other", False, f"Earth Engine could not complete {what}: {detail}")


def _memory(detail: str) -> Diagnosis:
    return Diagnosis("memory", False,
                     "Earth Engine ran out of memory or time computing this composite. Choose "
                     f"a smaller area or a shorter date range. Server said: {detail}")
