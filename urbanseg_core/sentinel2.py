"""The Sentinel-2 facts every module reads: band names and orders, file-name patterns, the DN
rule, the spectral indices, the classes and the nodata value. Declared once, here.

The model reads 11 Sentinel-2 bands in the order the original project exported them from
Google Earth Engine's ``COPERNICUS/S2_SR`` collection: B2, B3, B4, B5, B6, B7, B8, B8A, B9,
B11, B12 (B1 and B10 are not used). Reflectance is ``(DN + offset) / 10000``; Level-2A products
of processing baseline 04.00 and later (since 2022-01-25) declare an offset of -1000 DN (ESA,
Sentinel-2 Products Specification Document, baseline 04.00).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Iterable

# ------------------------------------------------------------------------------------ bands

#: The model's 11 input bands, in the original project's order.
MODEL_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
#: Level-1C band order of the SAFE product (and of most tools that stack it).
L1C_SAFE_ORDER: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
)
#: Level-1C band order of the EuroSAT-MS GeoTIFFs (B8A appended last).
L1C_EUROSAT_ORDER: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B8A",
)
#: Level-2A band order without B10 (12 bands, as Earth Engine's S2_SR and most L2A stacks).
L2A_ORDER: tuple[str, ...] = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                              "B11", "B12")
#: Every Sentinel-2 MSI band name.
ALL_BANDS: frozenset[str] = frozenset(L1C_SAFE_ORDER)
#: True colour: red, green, blue.
RGB_BANDS: tuple[str, str, str] = ("B4", "B3", "B2")
#: Bands that may stand in for a missing one: B8A (20 m) for B8 (10 m), as in the training
#: data of the bundled model (the Islamabad scene has no B8).
SUBSTITUTES: dict[str, str] = {"B8": "B8A"}

#: Central wavelengths (nm) of the model's 11 bands B2 ... B12 (Sentinel-2A MSI spectral
#: response, ESA Sentinel-2 User Handbook).
BAND_WAVELENGTH_NM: tuple[int, ...] = (492, 560, 665, 704, 740, 783, 833, 865, 945, 1614, 2202)

#: Divisor from DN to reflectance of integer products.
DN_SCALE = 10000.0
#: DN offset of Level-2A products of processing baseline 04.00 and later (not harmonised).
L2A_OFFSET = -1000.0
#: First day of processing baseline 04.00: products made since carry the offset (older scenes
#: reprocessed since carry it too; ESA, Sentinel-2 Products Specification Document).
OFFSET_SINCE = date(2022, 1, 25)
#: Processing baseline from which products carry the offset.
OFFSET_BASELINE = 4.0
#: Level-2A surface reflectance of the darkest blue (B2) pixels (water, shadow) is below
#: 0.05; with the 1000 DN offset stored they read above 1000 DN. A first percentile of B2 DN
#: above this says the offset is in the file, below :data:`NO_OFFSET_DARK_DN` that it is not.
OFFSET_DARK_DN = 800
NO_OFFSET_DARK_DN = 600

_BAND_RE = re.compile(r"^(?:.*?[_\s-])?B0?(\d{1,2}A?)$", re.IGNORECASE)


def canonical_band_name(name: str) -> str | None:
    """Return the canonical Sentinel-2 band name (``"B2"``, ``"B8A"``) for a spelling.

    Accepts ``B2``, ``B02``, ``b2``, ``SR_B2``, ``T33UUU_..._B02``; returns ``None`` when the
    text names no Sentinel-2 band.
    """
    if not name:
        return None
    match = _BAND_RE.match(name.strip())
    if not match:
        return None
    canonical = "B" + match.group(1).upper().lstrip("0")
    return canonical if canonical in ALL_BANDS else None


def band_sort_key(band: str) -> tuple[int, str]:
    """Sort key putting bands in wavelength-name order: B2 < B8 < B8A < B11."""
    digits = "".join(ch for ch in band if ch.isdigit())
    return int(digits), band


# ------------------------------------------------------------------------ file-name patterns

#: File name endings of single-band files (GeoTIFF and JPEG 2000, as in SAFE products).
BAND_FILE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".jp2")
#: Product metadata files that declare the DN offset (SAFE root of Level-2A / Level-1C).
METADATA_NAMES: tuple[str, ...] = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
#: Their offset elements (one per band).
OFFSET_TAGS: tuple[str, ...] = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")

_TOKEN_SPLIT = re.compile(r"[_\s.\-]+")
_LEVEL2A_TOKENS = frozenset({"SCL", "AOT", "WVP", "L2A", "10M", "20M", "60M", "R10M", "R20M",
                             "R60M"})


def band_of(path: str | Path) -> str | None:
    """The Sentinel-2 band a file name names (``"B2"``, ``"B8A"``), or ``None``.

    The name is split at ``_``, ``-``, ``.`` and spaces and the last part that is a band name
    wins, so ``S2A_..._T31UDQ_B02.tif`` and ``T43SCT_20181227T055231_B8A_20m.jp2`` are both
    recognised, and ``..._SCL_20m.jp2`` or ``TCI.tif`` are not.
    """
    for token in reversed(_TOKEN_SPLIT.split(Path(path).stem)):
        band = canonical_band_name(token)
        if band is not None:
            return band
    return None


def is_quality_mask(path: str | Path) -> bool:
    """True for the per-band quality masks of SAFE products (``QI_DATA/MSK_*_B02.jp2``...),
    which name a band but hold no reflectance."""
    path = Path(path)
    return path.name.upper().startswith("MSK_") or "QI_DATA" in (p.upper() for p in path.parts)


_DATE = re.compile(r"(?<!\d)(20[1-9]\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?:T\d{2}|[^\d]|$)")
_BASELINE = re.compile(r"(?:^|[_\s])N(\d{2})(\d{2})(?:[_\s.]|$)")


def acquisition_date(texts: Iterable[str]) -> date | None:
    """The first Sentinel-2 era date (2015-2099) written in file names or metadata values:
    ``20181227T055231``, ``2018-12-27``; ``None`` when there is none."""
    for text in texts:
        for match in _DATE.finditer(str(text)):
            try:
                found = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                continue
            if found.year >= 2015:
                return found
    return None


def dates_are_processing_times(texts: Iterable[str]) -> bool:
    """True when the names are the old (before December 2016) ``..._OPER_...`` kind
    (``S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30TXT_B02``), whose date is when the
    file was processed, not when the image was taken (:func:`acquisition_date` finds it
    either way)."""
    return any("_OPER_" in str(text).upper() for text in texts)


def processing_baseline(texts: Iterable[str]) -> float | None:
    """The processing baseline a SAFE product name gives (``..._N0400_...`` -> 4.0)."""
    for text in texts:
        match = _BASELINE.search(Path(str(text)).name)
        if match:
            return int(match.group(1)) + int(match.group(2)) / 100
    return None


def level2a_signs(names: Iterable[str]) -> bool:
    """True when file or folder names look like a Level-2A product: an ``SCL``, ``AOT`` or
    ``WVP`` layer, a resolution suffix or folder (``_20m``, ``R20m``), or ``MSIL2A``/``L2A``."""
    for name in names:
        tokens = {t.upper() for t in _TOKEN_SPLIT.split(Path(name).stem)}
        if tokens & _LEVEL2A_TOKENS or "MSIL2A" in name.upper():
            return True
    return False


# ----------------------------------------------------------------------------------- indices

#: The original project's spectral indices: name -> (a, b), index = (a - b) / (a + b).
#: NDVI: Rouse et al. (1974), NASA SP-351. NDTI (tillage index): Van Deventer et al. (1997),
#: Photogramm. Eng. Remote Sens. 63(1). NDVIre (red-edge NDVI): Gitelson & Merzlyak (1994).
#: MNDWI: Xu (2006), Int. J. Remote Sens. 27(14).
INDICES: dict[str, tuple[str, str]] = {
    "NDVI": ("B8", "B4"),
    "NDTI": ("B11", "B12"),
    "NDVIre": ("B5", "B4"),
    "MNDWI": ("B3", "B11"),
}
#: The 15 model channels: 11 bands then 4 indices.
CHANNELS: tuple[str, ...] = MODEL_BANDS + tuple(INDICES)

# ----------------------------------------------------------------------------------- classes

#: Class-map value (index codes) for pixels without data, in every class map and reference.
NODATA = 255
#: The 3 classes of the original project in index order: (name, colour, ESM code,
#: description). Colours from the Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008).
CLASSES: tuple[tuple[str, str, int, str], ...] = (
    ("other", "#F0F0F0", 1,
     "not built up: vegetation, water, bare soil, roads outside towns"),
    ("non-residential", "#0072B2", 250, "industrial, commercial and public built-up areas"),
    ("residential", "#E69F00", 255, "built-up areas used for housing"),
)
#: Class names in index order.
CLASS_NAMES: tuple[str, ...] = tuple(c[0] for c in CLASSES)
#: Class index -> European Settlement Map code.
ESM_CODES: dict[int, int] = {i: c[2] for i, c in enumerate(CLASSES)}
#: The nodata value of ESM-coded masks.
ESM_NODATA = 0
#: Class indices that count as built up.
BUILT_UP: tuple[int, ...] = (1, 2)
