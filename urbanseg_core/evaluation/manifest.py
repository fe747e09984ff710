"""The run manifest: a JSON record from which a result can be understood and reproduced.

Like a Raster Vision run config, it says what went in (source, file names and sha256, AOI,
dates), which model (name, version, sha256 of the weights), with which parameters (tile size,
overlap, codes, band order), on which software (package versions) and what came out (class
areas, built-up share, scores against a reference). It never holds secrets: keys whose name
looks like a credential are dropped, whatever the caller passes.
"""

from __future__ import annotations

import json
import platform
import re
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Mapping

from .. import __version__
from .metrics import json_safe

#: Packages whose versions are recorded.
PACKAGES: tuple[str, ...] = (
    "onnxruntime", "torch", "numpy", "rasterio", "shapely", "pyproj", "streamlit", "folium",
    "streamlit-folium", "earthengine-api",
)

_SECRET_RE = re.compile(r"(secret|token|password|passwd|private|credential|api[_-]?key|"
                        r"service[_-]?account|client[_-]?id|auth)", re.IGNORECASE)


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (``None`` where not installed)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def scrub(obj: Any) -> Any:
    """A copy of nested dicts/lists without keys that look like credentials.

    Keys matching secret, token, password, private, credential, api key, service account,
    client id or auth (any case) are removed with their values.
    """
    if isinstance(obj, Mapping):
        return {str(k): scrub(v) for k, v in obj.items() if not _SECRET_RE.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    return obj


def build_manifest(
    *,
    source: Mapping[str, Any],
    model: Mapping[str, Any],
    parameters: Mapping[str, Any],
    results: Mapping[str, Any],
    aoi: Mapping[str, Any] | None = None,
    dates: Mapping[str, Any] | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """Assemble a run manifest.

    Args:
        source: what was segmented, e.g. ``{"kind": "upload", "name": ..., "sha256": ...,
            "crs": "EPSG:32633", "shape_px": [H, W], "bounds": [...]}``.
        model: ``{"name", "version", "sha256", "weights"}`` of the model used.
        parameters: tile size, overlap, band order, DN offset, output codes...
        results: class areas (km²), built-up share, metrics against a reference.
        aoi: the area of interest (GeoJSON geometry in EPSG:4326, area km²), if any.
        dates: date range and cloud threshold of an Earth Engine composite, if any.
        created: timestamp (default: now, UTC).

    Returns:
        A JSON-ready dict (credential-like keys removed, see :func:`scrub`).
    """
    created = created or datetime.now(timezone.utc)
    manifest = {
        "urbanseg_manifest": 1,
        "created_utc": created.isoformat(timespec="seconds"),
        "software": {"urbanseg": __version__, "python": platform.python_version(),
                     "platform": platform.platform(terse=True),
                     "packages": package_versions()},
        "source": dict(source),
        "aoi": dict(aoi) if aoi else None,
        "dates": dict(dates) if dates else None,
        "model": dict(model),
        "parameters": dict(parameters),
        "results": dict(results),
    }
    return scrub(manifest)


def model_record(loaded, weights: str | None = None) -> dict[str, Any]:
    """The ``model`` section of a manifest: name, version, weights sha256 and weights file,
    the engine that ran the network (``"ONNX Runtime"`` with the shipped graph's file name,
    or ``"PyTorch"``), and for an adapted model its parent (``adapted_from``: name,
    version, sha256).

    Args:
        loaded: a :class:`~urbanseg_core.model.loading.LoadedModel`.
        weights: how to name the weights file (default: its full path).
    """
    card = loaded.card
    record = {"name": card.name, "version": card.version, "sha256": loaded.sha256,
              "weights": weights if weights is not None else str(loaded.path),
              "engine": loaded.engine}
    if loaded.graph is not None:
        record["graph"] = loaded.graph.name
    if card.parent:  # an adapted model names the model it was adapted from
        record["adapted_from"] = dict(card.parent)
    return record


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Indented UTF-8 JSON (NaN written as ``null``)."""
    return (json.dumps(json_safe(manifest), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
