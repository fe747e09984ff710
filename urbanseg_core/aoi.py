"""Areas of interest (AOI): parse, validate and size them before fetching imagery.

An AOI is a polygon in longitude/latitude (EPSG:4326) drawn on the map, uploaded as GeoJSON or
typed as bounds. Before anything is fetched from Earth Engine the app checks it
(:func:`validate`) and tells the user how much will be downloaded and roughly how long it will
take (:func:`urbanseg_core.gee.grid.estimate`).

Areas are geodesic (on the WGS 84 ellipsoid, :meth:`pyproj.Geod.geometry_area_perimeter`), so
they do not depend on a map projection.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import shapely
import shapely.affinity
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.validation import explain_validity

from .errors import AreaTooLargeError, InputError
from .util import safe_name

#: Default limit on the area fetched interactively, km².
DEFAULT_MAX_KM2 = 500.0

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class AOI:
    """An area of interest.

    Attributes:
        geometry: a shapely ``Polygon`` or ``MultiPolygon`` in EPSG:4326 (longitude, latitude
            in degrees).
        area_km2: geodesic area on the WGS 84 ellipsoid, km².
        name: a label (file names, export task names).
    """

    geometry: Polygon | MultiPolygon
    area_km2: float
    name: str = "aoi"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    @property
    def centroid(self) -> tuple[float, float]:
        """``(lon, lat)`` of the centroid, degrees."""
        c = self.geometry.centroid
        return c.x, c.y

    @property
    def key(self) -> str:
        """A stable text key (WKT rounded to 1e-7°, about 1 cm) for caches."""
        return shapely.to_wkt(self.geometry, rounding_precision=7)

    def to_geojson(self) -> dict:
        """The geometry as a GeoJSON geometry dict (EPSG:4326)."""
        return dict(mapping(self.geometry))

    def __hash__(self) -> int:  # shapely geometries hash by value; keep it explicit
        return hash((self.key, self.name))


def geodesic_area_km2(geometry) -> float:
    """Geodesic area of a lon/lat geometry on the WGS 84 ellipsoid, km²."""
    area_m2, _ = _GEOD.geometry_area_perimeter(geometry)
    return abs(area_m2) / 1e6


def _make(geometry, name: str = "aoi") -> AOI:
    return AOI(geometry, geodesic_area_km2(geometry), name)


def from_bounds(west: float, south: float, east: float, north: float, name: str = "aoi") -> AOI:
    """An AOI from typed bounds in degrees (EPSG:4326).

    Raises:
        InputError: bounds out of range or in the wrong order.
    """
    try:
        west, south, east, north = (float(v) for v in (west, south, east, north))
    except (TypeError, ValueError):
        raise InputError("The bounds must be four numbers: west, south, east, north "
                         "(degrees).") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InputError("The bounds must be finite numbers (degrees).")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InputError("Bounds are longitude -180..180 and latitude -90..90 degrees, in the "
                         "order west, south, east, north.")
    if west >= east:
        raise InputError(f"West ({west}) must be less than east ({east}). An area that "
                         "crosses the antimeridian (180°) is not supported: split it in two.")
    if south >= north:
        raise InputError(f"South ({south}) must be less than north ({north}).")
    return _make(box(west, south, east, north), name)


def parse_geojson(data: str | bytes | Mapping[str, Any], name: str = "aoi") -> AOI:
    """An AOI from GeoJSON text or a parsed dict.

    Accepts a Polygon or MultiPolygon geometry, a Feature holding one, or a FeatureCollection
    (its polygons are merged into one AOI). Coordinates are longitude/latitude (RFC 7946);
    an old-style ``"crs"`` member naming another CRS (e.g. EPSG:3857) is reprojected.

    Raises:
        InputError: not JSON, not GeoJSON, no polygon, or coordinates that are not degrees.
    """
    data = _load_geojson(data)
    geoms = _polygons_of(data)
    if not geoms:
        raise InputError("The GeoJSON holds no polygon. Draw a rectangle or polygon, or "
                         "upload a GeoJSON Polygon/MultiPolygon.")
    geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
    geom = _reproject_if_needed(geom, data.get("crs"))
    props = data.get("properties") if data.get("type") == "Feature" else None
    if isinstance(props, Mapping) and props.get("name"):
        name = str(props["name"])
    return _make(_normalise_longitudes(geom), name)


def parse_collection(data: str | bytes | Mapping[str, Any]) -> list[AOI]:
    """One AOI per polygon feature of a GeoJSON FeatureCollection (for batch exports).

    Each AOI is named from the feature's ``name`` property, else ``aoi_<n>`` (1-based); names
    are made safe for file names and unique.

    Raises:
        InputError: as :func:`parse_geojson`, or when a name repeats.
    """
    data = _load_geojson(data)
    features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
    out: list[AOI] = []
    seen: set[str] = set()
    for i, feat in enumerate(features or [], start=1):
        if not isinstance(feat, Mapping) or not _polygons_of(feat):
            continue
        props = feat.get("properties") or {}
        safe = safe_name(str(props.get("name") or ""), default=f"aoi_{i}")
        if safe in seen:
            raise InputError(f"Two AOIs are named {safe!r}. Give each feature a unique "
                             "'name' property.")
        seen.add(safe)
        aoi = parse_geojson({**feat, "crs": data.get("crs")} if data.get("crs") else feat)
        out.append(AOI(aoi.geometry, aoi.area_km2, safe))
    if not out:
        raise InputError("The AOI file holds no polygon features.")
    return out


def from_folium_drawing(drawing: Mapping[str, Any] | None) -> AOI:
    """An AOI from streamlit-folium's drawing output.

    Args:
        drawing: ``st_folium(...)["last_active_drawing"]`` (a GeoJSON Feature) or
            ``["all_drawings"]`` (a list of Features; the last polygon is used). Circles and
            markers are not areas and are refused.

    Raises:
        InputError: nothing drawn, or the drawing is not a rectangle/polygon.
    """
    if isinstance(drawing, (list, tuple)):
        polys = [d for d in drawing if isinstance(d, Mapping) and _polygons_of(d)]
        drawing = polys[-1] if polys else None
    if not drawing:
        raise InputError("Nothing is drawn yet. Use the rectangle or polygon tool on the map "
                         "to draw an area.")
    if isinstance(drawing, Mapping) and (drawing.get("properties") or {}).get("radius"):
        raise InputError("Circles are not supported. Draw a rectangle or polygon.")
    if not _polygons_of(drawing):
        raise InputError("The drawing is not an area. Draw a rectangle or polygon, not a "
                         "marker or line.")
    return parse_geojson(drawing)


def validate(aoi: AOI, max_km2: float = DEFAULT_MAX_KM2) -> AOI:
    """Check that an AOI can be fetched interactively.

    Checks: a valid (non self-intersecting) polygon with an area, in longitude -180..180 and
    latitude -80..84 (the UTM range used for the download grid), not crossing the
    antimeridian, and at most ``max_km2`` km² (geodesic).

    Returns:
        The same AOI.

    Raises:
        InputError: with a plain sentence saying what is wrong and what to do.
    """
    geom = aoi.geometry
    if geom.is_empty or not isinstance(geom, (Polygon, MultiPolygon)):
        raise InputError("The area is empty or not a polygon. Draw a rectangle or polygon.")
    if not geom.is_valid:
        raise InputError(f"The polygon is not valid ({explain_validity(geom)}): its edges "
                         "cross. Redraw it without crossing edges.")
    west, south, east, north = geom.bounds
    if east - west > 180 or west < -180 or east > 180:
        raise InputError("The area crosses the antimeridian (longitude 180°). Split it into "
                         "two areas, one on each side.")
    if south < -80 or north > 84:
        raise InputError("The area reaches beyond latitude -80..84°, outside the UTM grids "
                         "used for download. Choose an area closer to the equator.")
    if aoi.area_km2 <= 0:
        raise InputError("The area has no surface. Draw a rectangle or polygon.")
    if aoi.area_km2 > max_km2:
        raise AreaTooLargeError(
            f"The area is {aoi.area_km2:,.1f} km², more than the limit of {max_km2:,.0f} km² "
            "for an interactive download.", "Choose a smaller area, or export large areas "
            "with an Earth Engine task.", area_km2=aoi.area_km2, limit_km2=max_km2)
    return aoi


# --------------------------------------------------------------------------- helpers

def _load_geojson(data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    """Parse GeoJSON text or bytes (UTF-8) into a mapping; plain errors otherwise."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InputError(f"The AOI file is not valid JSON (line {exc.lineno}). Upload a "
                             "GeoJSON file with a polygon.") from None
    if not isinstance(data, Mapping):
        raise InputError("The AOI is not a GeoJSON object. Upload a GeoJSON polygon.")
    return data


def _members(obj: Mapping[str, Any], key: str) -> list:
    """Polygons of the members listed under ``key`` (features, geometries)."""
    out = []
    for member in obj.get(key) or []:
        if isinstance(member, Mapping):
            out.extend(_polygons_of(member))
    return out


#: GeoJSON types that hold other objects, and the key that lists them.
_COLLECTIONS = {"FeatureCollection": "features", "GeometryCollection": "geometries"}


def _polygons_of(obj: Mapping[str, Any]) -> list:
    """Shapely polygons found in a GeoJSON geometry, Feature or collection."""
    kind = obj.get("type")
    if kind in _COLLECTIONS:
        return _members(obj, _COLLECTIONS[kind])
    if kind == "Feature":
        geom = obj.get("geometry")
        return _polygons_of(geom) if isinstance(geom, Mapping) else []
    if kind in ("Polygon", "MultiPolygon"):
        try:
            geom = shape(obj)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            raise InputError(f"The {kind} in the GeoJSON has malformed coordinates.",
                             "Export it again or draw the area on the map.") from None
        return [] if geom.is_empty else [geom]
    return []


def _reproject_if_needed(geom, crs_member: Any):
    """Reproject from an old-style GeoJSON ``crs`` member to EPSG:4326 (lon/lat)."""
    name = None
    if isinstance(crs_member, Mapping):
        name = (crs_member.get("properties") or {}).get("name")
    if name:
        try:
            src = CRS.from_user_input(name)
        except Exception:  # pyproj.exceptions.CRSError
            raise InputError(f"The GeoJSON's CRS {name!r} is not recognised. Save it in "
                             "longitude/latitude (EPSG:4326).") from None
        if not src.equals(CRS.from_epsg(4326), ignore_axis_order=True) and "CRS84" not in name:
            tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
            geom = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    west, south, east, north = geom.bounds
    if south < -90 or north > 90 or west < -540 or east > 540:
        raise InputError("The GeoJSON coordinates are not longitude/latitude degrees. Save it "
                         "in EPSG:4326 (WGS 84).")
    return geom


def _normalise_longitudes(geom):
    """Shift a geometry drawn on a wrapped web map (longitudes beyond ±180) back by 360°."""
    west, _, east, _ = geom.bounds
    shift = 0.0
    if west >= 180:
        shift = -360.0 * math.floor((west + 180) / 360)
    elif east <= -180:
        shift = 360.0 * math.floor((180 - east) / 360)
    if shift:
        geom = shapely.affinity.translate(geom, xoff=shift)
    return geom
