"""Writing class maps: GeoTIFF (index or ESM codes), GeoJSON polygons, PNG overlays; and the
rule that keeps outputs off the user's files (:func:`check_outputs`).

Index codes (default): 0 other, 1 non-residential, 2 residential, **255 nodata**.
ESM codes (``codes="esm"``): 1 other, 250 non-residential, 255 residential, **0 nodata**, as
the European Settlement Map. The original project wrote index codes with ``nodata=0``, so class
0 "other" read as nodata; here the nodata value is never a class value.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from ..errors import OutputError, OutputExistsError, OverwritesInputError
from ..lazy import lazy_import
from ..sentinel2 import (BAND_FILE_SUFFIXES, ESM_CODES, ESM_NODATA, METADATA_NAMES, NODATA,
                         band_of)
from ..util import atomic_write, hex_to_rgb

Codes = Literal["index", "esm"]

#: The nodata value of each code convention.
NODATA_VALUE = {"index": NODATA, "esm": ESM_NODATA}


def encode(classes: np.ndarray, codes: Codes = "index") -> np.ndarray:
    """Map an index class map (255 nodata) to the requested code convention (uint8)."""
    if codes == "index":
        return classes.astype("uint8", copy=False)
    if codes == "esm":
        lut = np.zeros(256, dtype="uint8")
        for idx, code in ESM_CODES.items():
            lut[idx] = code
        lut[NODATA] = ESM_NODATA
        return lut[classes]
    raise ValueError(f"codes must be 'index' or 'esm', got {codes!r}")


#: Band 2 of a mask GeoTIFF written with a confidence layer.
CONFIDENCE_DESCRIPTION = ("split confidence, % (residential vs non-residential, built-up pixels "
                          "only; 255 elsewhere)")


def mask_profile(classes: np.ndarray, crs: CRS | None, transform, codes: Codes = "index",
                 count: int = 1) -> dict:
    """Rasterio profile of a class-map GeoTIFF: uint8, tiled, deflate, the convention's nodata;
    ``count`` 2 when the split confidence is band 2."""
    height, width = classes.shape
    profile = {
        "driver": "GTiff", "height": height, "width": width, "count": count, "dtype": "uint8",
        "crs": crs, "transform": transform, "nodata": NODATA_VALUE[codes],
        "compress": "deflate", "predictor": 2,
    }
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def describe_class_band(dst, class_names: Sequence[str], colours: Sequence[str],
                        codes: Codes = "index", software: str = "urbanseg") -> None:
    """Give band 1 of an open class-map GeoTIFF its colour table (nodata transparent), the
    tags ``CODES``, ``CLASSES`` (value -> name), ``NODATA_MEANING``, ``SOFTWARE`` and the
    description ``class``."""
    values = [ESM_CODES[i] if codes == "esm" else i for i in range(len(class_names))]
    cmap = {v: (*hex_to_rgb(col), 255) for v, col in zip(values, colours)}
    cmap[NODATA_VALUE[codes]] = (0, 0, 0, 0)
    dst.write_colormap(1, cmap)
    dst.update_tags(
        CODES=codes,
        CLASSES=json.dumps({str(v): n for v, n in zip(values, class_names)}),
        NODATA_MEANING="no input data",
        SOFTWARE=software,
    )
    dst.set_band_description(1, "class")


def _write(dst, classes: np.ndarray, class_names: Sequence[str], colours: Sequence[str],
           codes: Codes, confidence: np.ndarray | None = None) -> None:
    dst.write(encode(classes, codes), 1)
    describe_class_band(dst, class_names, colours, codes)
    if confidence is not None:
        conf = confidence.astype("uint8", copy=True)
        if codes == "esm":  # one nodata value for the whole file: the convention's
            conf[confidence == 0] = 1  # 0 % -> 1 %: 0 is ESM's nodata
            conf[confidence == NODATA] = ESM_NODATA
        dst.write(conf, 2)
        dst.set_band_description(2, CONFIDENCE_DESCRIPTION)
        dst.update_tags(2, UNITS="percent", MEANING="|p_res - p_nonres| / (p_res + p_nonres)")


def write_mask(path: str | Path, classes: np.ndarray, crs: CRS | None, transform,
               class_names: Sequence[str], colours: Sequence[str],
               codes: Codes = "index", confidence: np.ndarray | None = None) -> Path:
    """Write an ``(H, W)`` uint8 class map as a georeferenced GeoTIFF with a colour table.

    The file is written under a temporary name in its folder and renamed when complete
    (:func:`~urbanseg_core.util.atomic_write`), so a failed write never leaves half a file or
    a damaged old one.

    Args:
        path: output file; its folder must exist and be writable.
        classes: ``(H, W)`` uint8 index class map (255 nodata).
        crs, transform: georeference of the input (``crs`` may be ``None``).
        class_names, colours: in index order (from the model card).
        codes: ``"index"`` or ``"esm"`` (see module docstring).
        confidence: optional ``(H, W)`` uint8 split confidence (0-100 %, 255 none), written
            as band 2 (:data:`CONFIDENCE_DESCRIPTION`; with ESM codes 0 is its nodata and a
            0 % pixel is written as 1 %).

    Returns:
        The path written.

    Raises:
        InputError: the folder is missing or not writable.
    """
    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **mask_profile(classes, crs, transform, codes,
                                                  1 if confidence is None else 2)) as dst:
            _write(dst, classes, class_names, colours, codes, confidence)

    return atomic_write(path, write)


def mask_bytes(classes: np.ndarray, crs: CRS | None, transform, class_names: Sequence[str],
               colours: Sequence[str], codes: Codes = "index",
               confidence: np.ndarray | None = None) -> bytes:
    """The GeoTIFF of :func:`write_mask` as bytes (for download buttons)."""
    with MemoryFile() as mem:
        profile = mask_profile(classes, crs, transform, codes, 1 if confidence is None else 2)
        with mem.open(**profile) as dst:
            _write(dst, classes, class_names, colours, codes, confidence)
        return mem.read()


def overlay_rgba(classes: np.ndarray, colours: Sequence[str], opacity: float = 0.7,
                 show_other: bool = False) -> np.ndarray:
    """An ``(H, W, 4)`` uint8 RGBA image of a class map for map overlays.

    Class 0 ("other") and nodata are transparent unless ``show_other``.
    """
    lut = np.zeros((256, 4), dtype="uint8")
    for i, col in enumerate(colours):
        r, g, b = hex_to_rgb(col)
        alpha = 0 if (i == 0 and not show_other) else int(round(255 * opacity))
        lut[i] = (r, g, b, alpha)
    return lut[classes]


def png_bytes(rgba: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3|4)`` uint8 array as PNG."""
    buf = io.BytesIO()
    lazy_import("PIL.Image").fromarray(rgba).save(buf, format="PNG")
    return buf.getvalue()


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once resolved (``./x.tif`` and ``/abs/x.tif``,
    symbolic links), or :func:`os.path.samefile` (hard links, case-insensitive disks)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _read_from_folder(output: Path, folder: Path) -> bool:
    """Whether an existing ``output`` is a file a command reads from the input ``folder``:
    a band file (the band in its name) or a product metadata file anywhere below it."""
    if not output.exists():
        return False
    try:
        output.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return output.name in METADATA_NAMES or (
        output.suffix.lower() in BAND_FILE_SUFFIXES and band_of(output) is not None)


def check_outputs(outputs: Sequence[str | Path | None], inputs: Sequence[str | Path | None],
                  overwrite: bool = False) -> None:
    """Refuse outputs that would damage a user's files, before any work is done.

    Rules: an output is never one of the command's inputs (compared resolved and with
    :func:`os.path.samefile`, so ``./x.tif`` and ``/abs/x.tif`` or a hard link are caught),
    nor a band or metadata file inside an input folder; two outputs are never one file; an
    output is not a folder; an existing output is replaced only when ``overwrite`` is set
    (rasterio's ``rio`` convention).

    Args:
        outputs: the files a command will write (``None`` entries are skipped).
        inputs: the files and folders it reads (``None`` entries are skipped).
        overwrite: whether existing outputs may be replaced.

    Raises:
        OverwritesInputError: an output is an input (never allowed).
        OutputExistsError: an output exists and ``overwrite`` is not set.
        OutputError: an output is a folder, or two outputs are one file.
    """
    given = [Path(p) for p in inputs if p is not None]
    seen: list[Path] = []
    for out in (Path(p) for p in outputs if p is not None):
        for inp in given:
            if _same_file(out, inp) or (inp.is_dir() and _read_from_folder(out, inp)):
                raise OverwritesInputError(
                    f"The output {out} is one of the inputs ({inp}): writing it would "
                    "destroy that input.", "Give the output another name.",
                    output=str(out), input=str(inp))
        if out.is_dir():
            raise OutputError(f"The output {out} is a folder.", "Give a file name in it.",
                              output=str(out))
        if any(_same_file(out, other) for other in seen):
            raise OutputError(f"{out} is given for two outputs.",
                              "Give each output its own file name.", output=str(out))
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{out} exists already.",
                                    "Choose another name, or allow replacing it.",
                                    output=str(out))
        seen.append(out)
