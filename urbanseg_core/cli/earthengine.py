"""What the commands that reach Earth Engine share (``gee-*``, ``adapt --aoi``): the
connection and reading an AOI file.

Credentials come from ``.streamlit/secrets.toml`` (section ``[gee]``) in the current folder or
from ``EE_SERVICE_ACCOUNT_KEY`` / ``EE_PROJECT`` / ``earthengine authenticate`` (see
:mod:`urbanseg_core.gee.auth`). No command ever starts an interactive login.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..aoi import AOI, parse_geojson, validate
from ..gee import auth
from .errors import fail

SECRETS = Path(".streamlit") / "secrets.toml"
#: Seconds the commands wait for Earth Engine to answer (``URBANSEG_EE_TIMEOUT``).
CONNECT_TIMEOUT_S = 20.0


def connect() -> str:
    """Connect (waiting at most ``URBANSEG_EE_TIMEOUT`` s, default 20) or fail with the plain
    reason; returns the project."""
    seconds = float(os.environ.get("URBANSEG_EE_TIMEOUT") or CONNECT_TIMEOUT_S)
    conn = auth.connect_within(seconds, auth.load_secrets_file(SECRETS), os.environ)
    if not conn.connected:
        fail(conn.message)
    typer.echo(conn.message, err=True)
    return conn.project or ""


def read_aoi(path: Path, max_km2: float) -> AOI:
    """The AOI of a GeoJSON file, validated (at most ``max_km2``)."""
    if not path.is_file():
        fail(f"AOI file not found: {path}. Give a GeoJSON file with a polygon.")
    return validate(parse_geojson(path.read_text(encoding="utf-8"), name=path.stem),
                    max_km2=max_km2)
