"""Change between two dates of one area: a from-to class map (``3 * before + after``) with km².

One call for apps and scripts::

    from urbanseg_core.change import detect_change

    result = detect_change("before_bands/", "after.tif")   # Scenes, GeoTIFFs or band folders
    result.codes            # (H, W) uint8 from-to codes, 255 outside the overlap
    result.stats.rows()     # km² and % per from-to pair; result.stats.net_change_km2
    result.geotiff_bytes(), result.json_bytes(), result.geojson_bytes()   # downloads

Modules: ``codes`` (the encoding), ``inputs`` and ``grid`` (two dates on one grid),
``spectral`` (change vector, Otsu), ``decide`` (the rule and its parameters), ``stats``
(areas), ``output`` (files), ``pipeline`` (the whole flow).
"""

from .decide import ChangeParams
from .pipeline import ChangeResult, detect_change

__all__ = ["ChangeParams", "ChangeResult", "detect_change"]
