"""Session state: one model of what the user chose, which every page reads and writes.

Streamlit forgets a widget's value when its page is not shown, and a value written back into a
widget's key after a page switch can disagree with what the browser shows (the imagery radio
showed "Sample" over the Earth Engine panel, the cloud slider 0.00 instead of 0.7, and the
next click sent those). So no widget owns a setting here:

- every setting lives in one :class:`Settings` object in the session (``SETTINGS``);
- every widget is drawn by :func:`bind`, with a key that is new on each visit to a page (the
  browser draws a fresh widget from the model, never a stale one) and the model's value as its
  default; its value goes back into the model on every run;
- what Run uses is built from the model (the panels of :mod:`.panels`), so the value shown,
  the panel drawn and the value used cannot disagree.

Results, uploads and errors live under the other keys below; nothing here imports more than
Streamlit, so pages can draw their header before the heavy modules load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

import streamlit as st

#: The latest :class:`~urbanseg_core.runs.result.RunResult`.
RESULT = "urbanseg_result"
#: The :class:`~urbanseg_core.runs.request.RunRequest` of the latest result.
REQUEST = "urbanseg_request"
#: The last error shown after Run (a plain sentence), kept until the next run.
RUN_ERROR = "urbanseg_run_error"
#: The drawn or uploaded AOI as a GeoJSON geometry (EPSG:4326).
AOI = "urbanseg_aoi"
#: Path of a model chosen on the Model page (``None``: the default model).
MODEL_PATH = "urbanseg_model_path"
#: How the last run went: {"seconds", "cached", "origin", "model_seconds"}.
TIMING = "urbanseg_timing"
#: The settings model (:class:`Settings`).
SETTINGS = "urbanseg_settings"
#: Page visits so far (part of every widget key, see :func:`bind`).
VISIT = "urbanseg_visit"
#: The page shown on the latest run.
PAGE = "urbanseg_page"
#: Messages to show once on the next run (survive ``st.rerun``).
FLASH = "urbanseg_flash"
#: The Compare two dates page: its latest result, the request it answers, its last error.
CHANGE_RESULT = "urbanseg_change_result"
CHANGE_REQUEST = "urbanseg_change_request"
CHANGE_ERROR = "urbanseg_change_error"

_DEFAULTS: dict[str, Any] = {
    RESULT: None, REQUEST: None, RUN_ERROR: None, AOI: None, MODEL_PATH: None, TIMING: None,
    VISIT: 0, PAGE: None, CHANGE_RESULT: None, CHANGE_REQUEST: None, CHANGE_ERROR: None,
}


@dataclass
class Settings:
    """Everything a user set with a widget, kept across pages and reruns.

    Attributes:
        source: imagery: ``"sample"``, ``"upload"`` or ``"earthengine"``.
        level2a: upload sha256 -> the DN offset box (ticked: subtract 1000 DN).
        ref_codes: the reference's code convention (``"auto"``, ``"index"``, ...).
        ref_values: ``"<reference sha256[:16]>:<value in the file>"`` (:func:`.panels.value_key`)
            -> class index or 255.
        band_orders: upload sha256 -> band name per file band ("" = not used).
        dates: Earth Engine composite's first and last day (inclusive).
        cloud: Cloud Score+ clear-probability threshold 0-1.
        export_dest, export_bucket: where an Earth Engine export goes.
        opacity: opacity of the class overlays 0-1.
        codes: code convention of the downloaded mask (``"index"`` or ``"esm"``).
        change_source: Compare two dates: ``"upload"`` or ``"earthengine"``.
        change_before, change_after: Compare two dates with Earth Engine: each composite's
            first and last day (inclusive).
    """

    source: str = "sample"
    level2a: dict[str, bool] = field(default_factory=dict)
    ref_codes: str = "auto"
    ref_values: dict[str, int] = field(default_factory=dict)
    band_orders: dict[str, dict[int, str]] = field(default_factory=dict)
    dates: tuple = (date(2018, 1, 1), date(2018, 12, 31))
    cloud: float = 0.6
    export_dest: str = "drive"
    export_bucket: str = ""
    opacity: float = 0.7
    codes: str = "index"
    change_source: str = "upload"
    change_before: tuple = (date(2018, 1, 1), date(2018, 12, 31))
    change_after: tuple = (date(2023, 1, 1), date(2023, 12, 31))


def init() -> None:
    """Put every shared key in the session with its default (idempotent; every page calls
    it first)."""
    for key, value in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    if SETTINGS not in st.session_state:
        st.session_state[SETTINGS] = Settings()


def get(key: str) -> Any:
    """The value under ``key`` (its default when unset)."""
    return st.session_state.get(key, _DEFAULTS.get(key))


def put(key: str, value: Any) -> None:
    """Store ``value`` under ``key``."""
    st.session_state[key] = value


def settings() -> Settings:
    """The session's :class:`Settings`."""
    init()
    return st.session_state[SETTINGS]


def enter_page(page: str) -> None:
    """Count a new visit when the page shown differs from the last run's (call once per run,
    before the page draws its widgets)."""
    init()
    if st.session_state[PAGE] != page:
        st.session_state[PAGE] = page
        st.session_state[VISIT] += 1


def widget_key(name: str, item: str | None = None) -> str:
    """The key of a setting's widget on this visit: ``w_<name>[_<item>]_<visit>``."""
    return f"w_{name}{'_' + item if item else ''}_{get(VISIT)}"


def _read(name: str, item: str | None, default: Any) -> Any:
    value = getattr(settings(), name)
    return value.get(item, default) if item is not None else value


def _write(name: str, item: str | None, value: Any) -> None:
    if item is None:
        setattr(settings(), name, value)
    else:
        getattr(settings(), name)[item] = value


#: Widgets whose default is an option's position, not the value itself.
_BY_INDEX = (st.radio, st.selectbox)


def bind(widget: Callable, name: str, label: str, *, item: str | None = None,
         default: Any = None, **kwargs) -> Any:
    """Draw ``widget`` for a setting and keep the model and the widget in step.

    Args:
        widget: ``st.radio``, ``st.selectbox``, ``st.checkbox``, ``st.slider``,
            ``st.date_input``, ``st.text_input``...
        name: the :class:`Settings` field.
        label: the widget's label.
        item: for dict fields, the item (e.g. an upload's sha256); ``default`` is its value
            until one is set.
        **kwargs: the widget's other arguments (``options``, ``help``...).

    Returns:
        The widget's value, which is also the model's from now on.
    """
    value = _read(name, item, default)
    if widget in _BY_INDEX:
        options = list(kwargs["options"])
        kwargs["index"] = options.index(value) if value in options else 0
    else:
        kwargs["value"] = value
    key = widget_key(name, item)
    # on_change: a change reaches the model at the start of the next run, even when that
    # run draws another page (a click followed at once by a page switch is kept)
    out = widget(label, key=key, on_change=_changed, args=(key, name, item), **kwargs)
    _write(name, item, out)
    return out


def _changed(key: str, name: str, item: str | None) -> None:
    """``on_change`` of bound widgets: copy the widget's new value into the model."""
    if key in st.session_state:
        _write(name, item, st.session_state[key])


def flash(kind: str, text: str) -> None:
    """Keep a message (``kind``: ``"success"``, ``"info"``, ``"warning"``) for the next run."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def pop_flash() -> list[tuple[str, str]]:
    """The messages kept by :func:`flash`, forgotten once read."""
    return st.session_state.pop(FLASH, [])
