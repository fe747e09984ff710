"""Grid helpers: the UTM zone of a point."""

from __future__ import annotations

from pyproj import CRS


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM CRS (EPSG:326zz north, 327zz south) of the zone holding a point.

    Zones are the regular 6° zones (the Norway/Svalbard exceptions are not applied: a
    neighbouring zone is just as valid a metric grid for a small AOI).

    Args:
        lon, lat: degrees (WGS 84).

    Raises:
        ValueError: for coordinates outside -180..180 / -80..84 (UTM's range).
    """
    if not (-180 <= lon <= 180 and -80 <= lat <= 84):
        raise ValueError(f"({lon}, {lat}) is outside the UTM range (lat -80..84)")
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
