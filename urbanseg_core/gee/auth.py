"""Connect to Earth Engine once per process, without ever starting an interactive login.

Credentials are looked for in this order:

1. a service-account key in ``secrets["gee"]["service_account_key"]`` (the app passes
   ``st.secrets``): the key's JSON text, a TOML table with the key's fields, or a file path;
2. the environment variable ``EE_SERVICE_ACCOUNT_KEY`` (JSON text or a file path);
3. the persistent credentials that ``earthengine authenticate`` leaves in
   ``~/.config/earthengine/credentials`` (or Application Default Credentials from
   ``gcloud auth application-default login`` / ``GOOGLE_APPLICATION_CREDENTIALS``).

The Cloud project comes from ``secrets["gee"]["project"]``, else ``EE_PROJECT``, else the
service account's own project. Key material is never printed, logged, put in a message or
kept on the returned object: exceptions raised while reading a key are replaced by plain
messages (``from None``) so no traceback carries it either.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

try:  # Python 3.11+; on 3.10 secrets files are not read (the environment still works)
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None

from ..errors import EarthEngineError, MissingDependencyError
from ..lazy import lazy_import
from .errors import HOW_TO_CONNECT, diagnose

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """The state of the Earth Engine connection (safe to show and to log).

    Attributes:
        connected: ``True`` when ``ee`` is initialised and answered.
        project: the Cloud project used for requests (``None`` when not connected).
        message: a plain sentence for the sidebar: "Connected to Earth Engine project X" or
            "Not connected: <what to do>".
        method: ``"service account"``, ``"user credentials"`` or ``None``.
        account: the service account's e-mail address (not secret), when one is used.
    """

    connected: bool
    project: str | None
    message: str
    method: str | None = None
    account: str | None = None


def _not_connected(reason: str) -> Connection:
    return Connection(False, None, f"Not connected: {reason}")


def _gee_section(secrets: Mapping | None) -> Mapping:
    """``secrets["gee"]`` or ``{}``; tolerant of Streamlit's secrets object without a file."""
    if secrets is None:
        return {}
    try:
        section = secrets.get("gee") if hasattr(secrets, "get") else None
    except Exception:  # st.secrets raises when no secrets.toml exists
        return {}
    return section if isinstance(section, Mapping) or hasattr(section, "get") else {}


def _load_key(value: Any, source: str) -> dict:
    """Parse a service-account key (dict, JSON text or path) without revealing its content.

    Raises:
        EarthEngineError: with a message naming only ``source``, never the value.
    """
    if isinstance(value, Mapping) or (hasattr(value, "keys") and hasattr(value, "__getitem__")):
        info = {k: value[k] for k in value.keys()}
    else:
        text = str(value).strip()
        if not text.startswith("{"):
            path = Path(text).expanduser()
            if len(text) > 4096 or "\n" in text or not path.is_file():
                raise EarthEngineError(
                    f"Not connected: the service-account key in {source} is neither the key's "
                    "JSON text nor the path of an existing file. Download a JSON key for the "
                    "service account and give its path or its content.")
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                raise EarthEngineError(f"Not connected: the key file named in {source} cannot "
                                       "be read. Check its permissions.") from None
        try:
            info = json.loads(text)
        except (json.JSONDecodeError, ValueError):
            raise EarthEngineError(f"Not connected: the service-account key in {source} is not "
                                   "valid JSON. Paste the whole JSON key file, unchanged.") from None
    if not isinstance(info, dict):
        raise EarthEngineError(f"Not connected: the service-account key in {source} is not a "
                               "JSON object. Use the JSON key file Google Cloud gave you.")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing or info.get("type", "service_account") != "service_account":
        raise EarthEngineError(
            f"Not connected: the key in {source} is not a service-account key (missing "
            f"{', '.join(missing) or 'type service_account'}). Create a JSON key for a service "
            "account in Google Cloud console > IAM > Service accounts > Keys.")
    return info


def _persistent_credentials_present(env: Mapping[str, str]) -> bool:
    """Whether ``earthengine authenticate`` or ADC left credentials (no network, no prompt)."""
    ee = lazy_import("ee")
    candidates = [Path(ee.oauth.get_credentials_path())]
    if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        candidates.append(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]))
    gcloud = Path(env.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    candidates.append(gcloud / "application_default_credentials.json")
    return any(p.is_file() for p in candidates)


def connect(secrets: Mapping | None = None, env: Mapping[str, str] = os.environ) -> Connection:
    """Initialise Earth Engine from a service-account key or persistent user credentials.

    Never starts an interactive login and never raises for a missing or bad connection: the
    returned :class:`Connection` says what happened. Call it once per process (the app wraps
    it in ``st.cache_resource``).

    Args:
        secrets: a mapping with an optional ``"gee"`` section (``st.secrets`` in the app):
            ``service_account_key`` (JSON text, TOML table or file path), ``project``.
        env: environment variables (``EE_SERVICE_ACCOUNT_KEY``, ``EE_PROJECT``).

    Returns:
        A :class:`Connection`; ``connected`` is ``True`` when ``ee.Initialize`` succeeded.
    """
    try:
        ee = lazy_import("ee")
    except MissingDependencyError:
        return _not_connected("the earthengine-api package is not installed "
                              "(pip install earthengine-api).")
    section = _gee_section(secrets)
    project = (section.get("project") if section else None) or env.get("EE_PROJECT") or None
    key_value = section.get("service_account_key") if section else None
    source = "secrets [gee] service_account_key"
    if not key_value and env.get("EE_SERVICE_ACCOUNT_KEY"):
        key_value, source = env["EE_SERVICE_ACCOUNT_KEY"], "EE_SERVICE_ACCOUNT_KEY"
    if key_value:
        method = "service account"
        credentials, project, account, failed = _service_account(ee, key_value, source, project)
    else:
        method, account = "user credentials", None
        credentials, project, failed = _user_credentials(ee, env, project)
    if failed is not None:
        return failed
    try:
        ee.Initialize(credentials=credentials, project=project)
    except Exception as exc:  # network, refresh, permission errors
        diag = diagnose(exc, "the connection check")
        log.warning("Earth Engine initialisation failed (%s)", diag.kind)
        return _not_connected(diag.message.removeprefix("Not connected: "))
    log.info("Connected to Earth Engine project %s with %s", project, method)
    return Connection(True, project, f"Connected to Earth Engine project {project}", method,
                      account)


def connect_within(seconds: float, secrets: Mapping | None = None,
                   env: Mapping[str, str] = os.environ) -> Connection:
    """:func:`connect`, waiting at most ``seconds`` for Earth Engine to answer (with
    credentials but no network the first request can hang for a minute).

    Returns:
        The :class:`Connection`, or a "did not answer" one after ``seconds`` (the check goes
        on in a background thread; nothing is initialised meanwhile).
    """
    box: dict[str, Connection] = {}
    worker = threading.Thread(target=lambda: box.setdefault("c", connect(secrets, env)),
                              name="urbanseg-ee-connect", daemon=True)
    worker.start()
    worker.join(seconds)
    if "c" in box:
        return box["c"]
    return _not_connected(f"Earth Engine did not answer within {seconds:g} s. Check this "
                          "computer's internet connection, then try again.")


def _service_account(ee, key_value: Any, source: str, project: str | None):
    """``(credentials, project, account, None)`` from a service-account key, or
    ``(None, None, None, failed Connection)``; the key never reaches a message."""
    try:
        info = _load_key(key_value, source)
    except EarthEngineError as exc:
        return None, None, None, Connection(False, None, str(exc))
    account = str(info["client_email"])
    project = project or info.get("project_id")
    try:
        service_account = lazy_import("google.oauth2.service_account")
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=ee.oauth.SCOPES)
    except Exception:  # malformed private key: never echo the library's message
        return None, None, None, _not_connected(
            f"the private key in {source} could not be read. Download a new JSON key for the "
            "service account.")
    finally:
        del info
    return credentials, project, account, None


def _user_credentials(ee, env: Mapping[str, str], project: str | None):
    """``(credentials, project, None)`` from ``earthengine authenticate`` / ADC, or
    ``(None, None, failed Connection)``."""
    if not _persistent_credentials_present(env):
        return None, None, _not_connected("no Earth Engine credentials were found. "
                                          + HOW_TO_CONNECT)
    try:
        credentials = ee.data.get_persistent_credentials()
    except Exception as exc:  # EEException, google.auth errors
        return None, None, _not_connected(diagnose(exc).message.removeprefix("Not connected: "))
    project = project or getattr(credentials, "quota_project_id", None)
    if not project:
        return None, None, _not_connected(
            "no Cloud project is set for Earth Engine. Set EE_PROJECT (or [gee] project in "
            "secrets.toml) to a project registered for Earth Engine.")
    return credentials, project, None


def require_initialized() -> None:
    """Raise a plain error unless ``ee`` has been initialised (see :func:`connect`).

    Raises:
        EarthEngineError: not connected.
    """
    ee = lazy_import("ee")
    if not ee.data.is_initialized():
        raise EarthEngineError("Not connected to Earth Engine. " + HOW_TO_CONNECT)


def load_secrets_file(path: str | Path = Path(".streamlit") / "secrets.toml") -> dict:
    """Read a Streamlit-style ``secrets.toml`` (for the CLI; the app uses ``st.secrets``).

    Returns:
        The parsed TOML, or ``{}`` when the file does not exist.

    Raises:
        EarthEngineError: the file exists but is not valid TOML (its content is not shown).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    if tomllib is None:  # pragma: no cover
        raise EarthEngineError(f"Reading {path} needs Python 3.11 or later.",
                               "Set EE_SERVICE_ACCOUNT_KEY and EE_PROJECT instead.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise EarthEngineError(f"{path} is not valid TOML. Compare it with "
                               ".streamlit/secrets.toml.example.") from None
