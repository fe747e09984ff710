"""What the page says: errors with the fix worded for the page, and notes on uploads.

Core errors (:mod:`urbanseg_core.errors`) carry their facts and a fix that names no user
interface; here the fixes that depend on the interface name the page's own controls (the band
form, the Level-2A box, the reference codes box). The command line words the same errors
in :mod:`urbanseg_core.cli.errors`.
"""

from __future__ import annotations

from ..errors import (Fixes, OffsetMetadataError, ReferenceCodesError, TooLargeError,
                      UnnamedBandsError, UnsupportedOffsetError, UrbansegError,
                      WeightsMismatchError, reword)
from ..runs.uploads import StackedUpload


#: Error type -> the fix in the page's terms (``None``: keep the error's own fix).
FIXES: Fixes = {
    UnnamedBandsError: lambda exc: (
        "Upload the multi-band image, or select all its band files together."
        if len(exc.found) == 1 else
        "Say which band is which in the band-mapping form, or upload a file with 11 bands in "
        "the model's order or 13 Level-1C bands."),
    TooLargeError: lambda exc: (
        "Crop the band files to a smaller area first, or use the `urbanseg` command line for "
        "whole regions." if exc.stack else
        "Crop it to a smaller area, or use the `urbanseg batch` command for whole regions."),
    OffsetMetadataError: lambda exc: None if exc.offsets else (
        "Upload the band files without it and set the Level-2A offset box yourself."),
    ReferenceCodesError: lambda exc: "Choose the reference codes (index, esm, ghsl or corine) "
                                     "next to the reference upload.",
    WeightsMismatchError: lambda exc: "Upload weights trained with `urbanseg train` together "
                                      "with their card, or the original final_model.pth.",
    UnsupportedOffsetError: lambda exc: "Use the command line, which applies any offset: "
                                        "urbanseg predict FOLDER -o mask.tif.",
}


def describe(exc: UrbansegError) -> str:
    """The sentence the page shows for an error: its problem and the fix in page terms."""
    return reword(exc, FIXES)


def upload_notes(stacked: StackedUpload) -> list[str]:
    """Notes on stacked band uploads: the stacking, files left out, the DN offset."""
    notes = [f"Stacked from {stacked.band_files} band files onto a 10 m grid (nearest "
             "neighbour).", *stacked.notes]
    if stacked.unused:
        notes.append(f"Not used (no band in the name): {', '.join(stacked.unused)}.")
    if stacked.dn_offset is not None:
        box = "ticked" if stacked.dn_offset else "left unticked"
        notes.append(f"{stacked.metadata} declares a DN offset of {stacked.dn_offset:g}: the "
                     f"Level-2A offset box below is {box} accordingly.")
    elif stacked.looks_level2a:
        notes.append("These look like Level-2A files: tick the Level-2A offset box below if "
                     "the product is of processing baseline 04.00 or later (or upload its "
                     "MTD_MSIL2A.xml with the bands).")
    return notes
