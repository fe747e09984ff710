"""The map's scripts and stylesheets, served by the app itself: the map works with no internet.

folium, its plugins and leafmap name their JavaScript and CSS as ``default_js`` /
``default_css`` lists of ``(name, CDN URL)``; streamlit-folium loads them in the map's iframe
one after the other, and a single failed load leaves the map blank. Here the files are
package data (``static/``, npm copies with their licences, see ``static/README.md``), served
by Streamlit as the files of a component that is declared but never drawn: the server answers
``<app>/component/urbanseg_core.app.assets.leaflet_assets/<file>`` for any file of the
folder, with a JavaScript content type for ``.js`` and ``Cache-Control: public``. This needs
no setting and no folder next to ``app.py``, so it works from any working directory and from
an installed package.

:func:`localise` points every element of a map at those files (the URLs are relative to
streamlit-folium's iframe, so a ``server.baseUrlPath`` is kept) and drops what the maps do
not use (jQuery, Bootstrap, Font Awesome, awesome-markers).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import streamlit.components.v1 as components
from branca.element import Element

log = logging.getLogger("urbanseg.app")

#: The vendored files (package data).
STATIC_DIR = Path(__file__).resolve().with_name("static")
#: Streamlit serves :data:`STATIC_DIR` under this component's name.
COMPONENT = "leaflet_assets"
components.declare_component(COMPONENT, path=str(STATIC_DIR))
#: The files' URL relative to streamlit-folium's iframe
#: (``<app>/component/streamlit_folium.st_folium/index.html``).
URL_PREFIX = f"../{__name__}.{COMPONENT}/"

#: folium / leafmap asset name -> file under :data:`STATIC_DIR`; ``None``: not needed, left out.
ASSETS: dict[str, str | None] = {
    "leaflet": "leaflet-1.9.3/leaflet.js",
    "leaflet_css": "leaflet-1.9.3/leaflet.css",
    "leaflet_draw_js": "leaflet-draw-1.0.2/leaflet.draw.js",
    "leaflet_draw_css": "leaflet-draw-1.0.2/leaflet.draw.css",
    "Leaflet.Sync": "leaflet.sync-0.2.4/L.Map.Sync.js",
    # folium.Map's defaults for markers, popups and icons: unused by our maps
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
}


def asset_url(name: str) -> str:
    """The served URL of a known asset (see :data:`ASSETS`).

    Raises:
        KeyError: unknown or left-out asset.
    """
    path = ASSETS[name]
    if path is None:
        raise KeyError(name)
    return URL_PREFIX + path


def _elements(root: Element) -> Iterator[Element]:
    """``root`` and every element below it (both maps of a DualMap)."""
    yield root
    for attr in ("m1", "m2"):
        if isinstance(getattr(root, attr, None), Element):
            yield from _elements(getattr(root, attr))
    for child in list(getattr(root, "_children", {}).values()):
        yield from _elements(child)


def _local(links: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in links:
        if name not in ASSETS:  # a new plugin: keep its CDN link (works online) and say so
            log.warning("map asset %s is not served by the app: %s", name, url)
            out.append((name, url))
        elif ASSETS[name] is not None:
            out.append((name, asset_url(name)))
    return out


def localise(root: Element) -> Element:
    """Point the scripts and stylesheets of ``root`` and everything in it at the app's copies.

    Call it when the map is complete (children added later keep their CDN links).

    Args:
        root: a folium map, DualMap, feature group or any element.

    Returns:
        ``root`` (changed in place: instance ``default_js`` / ``default_css``).
    """
    for element in _elements(root):
        for attr in ("default_js", "default_css"):
            links = getattr(element, attr, None)
            if links:
                setattr(element, attr, _local(list(links)))
    return root


def external_links(root: Element) -> list[str]:
    """Script and stylesheet URLs of ``root`` that the app does not serve (``[]`` offline-safe)."""
    return [url for element in _elements(root) for attr in ("default_js", "default_css")
            for _name, url in getattr(element, attr, None) or ()
            if not url.startswith(URL_PREFIX)]
