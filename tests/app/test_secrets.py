"""A planted fake Earth Engine key never reaches page text, logs, manifests or downloads.

The key is planted in both places the app reads keys from: ``st.secrets["gee"]`` and the
``EE_SERVICE_ACCOUNT_KEY`` environment variable. The app then runs the sample end to end and
every user-visible or written artefact is searched for the key's marker strings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from urbanseg_core.model.loading import DEFAULT_CARD
import rasterio

ROOT = Path(__file__).resolve().parents[2]
if not DEFAULT_CARD.exists():
    pytest.skip("the bundled model is missing", allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402

from urbanseg_core.app import state  # noqa: E402

from .helpers import ee_settled, key  # noqa: E402

MARKERS = ("FAKEKEY-urbanseg-7c1d", "fake-sa@leak-test.iam.gserviceaccount.com")
FAKE_KEY = json.dumps({
    "type": "service_account", "project_id": "leak-test", "private_key_id": MARKERS[0],
    "private_key": f"-----BEGIN PRIVATE KEY-----\n{MARKERS[0]}\n-----END PRIVATE KEY-----\n",
    "client_email": MARKERS[1], "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token",
})


def _texts(at: AppTest) -> list[str]:
    """Every text the page shows: markdown, captions, alerts, metrics, tables, widgets."""
    out = []
    for kind in ("markdown", "caption", "text", "code", "error", "warning", "info", "success",
                 "title", "header", "subheader", "exception", "json", "latex"):
        for el in getattr(at, kind, []):
            out.append(str(getattr(el, "value", "")))
    for m in at.metric:
        out += [str(m.label), str(m.value)]
    for df in at.dataframe:
        out.append(df.value.to_csv())
    for el in list(at.text_input) + list(at.text_area):
        out.append(str(el.value))
    return out


def _assert_clean(texts, where):
    for text in texts:
        for marker in MARKERS:
            assert marker not in text, f"the fake key leaked into {where}: {text[:200]!r}"


def test_planted_key_never_appears(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", FAKE_KEY)
    monkeypatch.setenv("EE_PROJECT", "leak-test")
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")
    caplog.set_level(logging.DEBUG)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.secrets["gee"] = {"service_account_key": FAKE_KEY, "project": "leak-test"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _assert_clean(_texts(at), "the Map & run page")

    at.radio(key=key(at, "source")).set_value("earthengine").run()
    _assert_clean(_texts(at), "the Earth Engine source panel")
    at.radio(key=key(at, "source")).set_value("sample").run()
    at.button(key="w_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    for page in ("pages/2_Results.py", "pages/3_Model.py", "pages/4_About.py"):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        _assert_clean(_texts(at), page)

    result = at.session_state[state.RESULT]
    downloads = {"manifest": result.manifest_json(), "csv": result.csv(),
                 "geojson": result.geojson(), "geotiff": result.geotiff(),
                 "geotiff-esm": result.geotiff("esm")}
    for name, data in downloads.items():
        _assert_clean([data.decode("latin-1")], f"the {name} download")
    tif = tmp_path / "mask.tif"
    tif.write_bytes(downloads["geotiff"])
    with rasterio.open(tif) as src:
        _assert_clean([json.dumps(src.tags())], "the GeoTIFF tags")
    session = at.session_state._state._state  # SafeSessionState -> SessionState
    _assert_clean([repr(result)] + [repr(session[k]) for k in session._keys()], "session state")
    _assert_clean([r.getMessage() for r in caplog.records] + [caplog.text], "the logs")


def test_the_planted_key_was_really_read(monkeypatch):
    """Guard against a vacuous pass: the app did try the planted key, and says it failed."""
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.secrets["gee"] = {"service_account_key": FAKE_KEY, "project": "leak-test"}
    at.run()
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    ee_settled(at)
    shown = " ".join(_texts(at))
    assert "not connected" in shown.lower() and "key" in shown.lower(), shown[:500]
    with pytest.raises(AssertionError):
        _assert_clean([f"oops {MARKERS[0]}"], "a planted leak")
