"""Helpers for the AppTest tests: widget keys of the settings model, page text unescaped."""

from __future__ import annotations

import re

from urbanseg_core.app import state


def key(at, name: str, item: str | None = None) -> str:
    """The key of a setting's widget on the page shown now (:func:`state.widget_key`)."""
    return f"w_{name}{'_' + item if item else ''}_{at.session_state[state.VISIT]}"


def plain(text: str) -> str:
    """Page text without the escapes of :func:`urbanseg_core.app.messages.as_text`."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


def errors(at) -> str:
    """Every error shown on the page, as plain text."""
    return " ".join(plain(e.value) for e in at.error)


def ee_settled(at, timeout_s: float = 60.0):
    """Wait for the background Earth Engine check to answer, then draw the page again."""
    import time

    from urbanseg_core.app import earthengine

    deadline = time.monotonic() + timeout_s
    while earthengine.status().state == "checking" and time.monotonic() < deadline:
        time.sleep(0.2)
    return at.run()
