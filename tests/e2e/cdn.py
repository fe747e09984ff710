"""Answer folium's CDN requests from local npm copies, so browser tests run offline.

folium (and its Draw plugin) load Leaflet, Leaflet.draw, jQuery, Bootstrap, Font Awesome and
Leaflet.awesome-markers from public CDNs. The tests route every request that leaves the app's
own server through :func:`handle`: known assets are served from ``tests/e2e/node_modules``
(installed by ``.ci/setup_e2e.sh``), other stylesheets and scripts get an empty 200 answer,
and everything else (basemap tiles, fonts, telemetry) is aborted, so basemap tiles stay grey.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"

#: (URL regex, path template under node_modules); first match wins.
RULES: list[tuple[re.Pattern, str]] = [
    # jsDelivr npm URLs: /npm/<package>@<version>/<path>
    (re.compile(r"^https?://cdn\.jsdelivr\.net/npm/"
                r"(?P<pkg>@?[^@/]+(?:/[^@/]+)?)@[^/]+/(?P<path>[^?#]+)"),
     "{pkg}/{path}"),
    (re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/leaflet\.draw/[^/]+/"
                r"(?P<path>[^?#]+)"),
     "leaflet-draw/dist/{path}"),
    (re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/Leaflet\.awesome-markers/"
                r"[^/]+/(?P<name>[^/?#]+\.js)"),
     "drmonty-leaflet-awesome-markers/js/{name}"),
    (re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/Leaflet\.awesome-markers/"
                r"[^/]+/(?P<path>[^?#]+)"),
     "drmonty-leaflet-awesome-markers/css/{path}"),
    (re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/jquery/[^/]+/(?P<name>[^/?#]+)"),
     "jquery/dist/{name}"),
    (re.compile(r"^https?://code\.jquery\.com/jquery-[\d.]+(?P<min>\.min)?\.js"),
     "jquery/dist/jquery{min}.js"),
    (re.compile(r"^https?://unpkg\.com/(?P<pkg>@?[^@/]+(?:/[^@/]+)?)@[^/]+/(?P<path>[^?#]+)"),
     "{pkg}/{path}"),
]


def available() -> bool:
    """True when the npm copies are installed."""
    return (NODE_MODULES / "leaflet" / "dist" / "leaflet.js").is_file() and (
        NODE_MODULES / "leaflet-draw" / "dist" / "leaflet.draw.js").is_file()


def local_file(url: str) -> Path | None:
    """The local copy answering ``url``, or ``None``."""
    for pattern, template in RULES:
        match = pattern.match(url)
        if match:
            groups = {k: (v or "") for k, v in match.groupdict().items()}
            path = NODE_MODULES / template.format(**groups)
            if path.is_file():
                return path
    return None


def handle(route, served: list[str] | None = None, missed: list[str] | None = None) -> None:
    """A Playwright route handler for every external request (see module docstring)."""
    url = route.request.url
    path = local_file(url)
    if path is not None:
        if served is not None:
            served.append(url)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            ctype = "application/javascript"
        route.fulfill(status=200, path=str(path), content_type=ctype,
                      headers={"Access-Control-Allow-Origin": "*"})
        return
    if missed is not None:
        missed.append(url)
    clean = url.split("?")[0]
    if clean.endswith(".css"):
        route.fulfill(status=200, body="", content_type="text/css")
    elif clean.endswith(".js"):
        route.fulfill(status=200, body="", content_type="application/javascript")
    else:
        route.abort()
