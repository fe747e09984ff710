"""What the page says: errors with the fix worded for the page, notes on uploads, the steps
to connect Earth Engine, and :func:`as_text` for everything a user names.

Core errors (:mod:`urbanseg_core.errors`) carry their facts and a fix that names no user
interface; here the fixes that depend on the interface name the page's own controls (the band
form, the offset box, the reference value table). The command line words the same errors in
:mod:`urbanseg_core.cli.errors`. Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
import re

from ..errors import (AreaTooLargeError, Fixes, ModelLoadError, OffsetMetadataError,
                      ReferenceCodesError, TilingError, TooLargeError, UnnamedBandsError,
                      UnsupportedOffsetError, UrbansegError, WeightsMismatchError, reword)

#: Error type -> the fix in the page's terms (``None``: keep the error's own fix).
FIXES: Fixes = {
    UnnamedBandsError: lambda exc: (
        "Upload the multi-band image, or select all its band files together."
        if len(exc.found) == 1 else
        "Say which band is which in the band-mapping form, or upload a file with 11 bands in "
        "the model's order or 13 Level-1C bands."),
    TooLargeError: lambda exc: "Crop it to a smaller area first: the app takes up to "
                               f"{_side(exc.limit)} pixels here.",
    OffsetMetadataError: lambda exc: None if exc.offsets else (
        "Upload the band files without it and set the DN offset box yourself."),
    ReferenceCodesError: lambda exc: "Say which class each value is in the reference's value "
                                     "table.",
    WeightsMismatchError: lambda exc: "Upload weights trained with urbanseg train together "
                                      "with their card, or the original final_model.pth.",
    UnsupportedOffsetError: lambda exc: "Ask whoever runs this app to segment it with the "
                                        "urbanseg command line, which applies any offset.",
    AreaTooLargeError: lambda exc: "Draw a smaller area.",
    TilingError: lambda exc: "Load a model whose card gives a usable tile size.",
    ModelLoadError: lambda exc: None,
}


def _side(limit: int) -> str:
    """A pixel limit as a square, ``"11,000 × 11,000"`` (the app's whole limit when the error
    gives none)."""
    side = math.isqrt(limit) if limit else 11_000
    return f"{side:,} × {side:,}"


def describe(exc: UrbansegError) -> str:
    """The sentence the page shows for an error: its problem and the fix in page terms."""
    return reword(exc, FIXES)


#: Characters with a meaning in Streamlit's Markdown (CommonMark, GitHub extensions,
#: directives such as ``:red[...]`` and ``:material/icon:``, LaTeX ``$``).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:&=\"'/@%])")
#: U+2060 WORD JOINER: invisible; after ``@``, a ``:`` followed by text, and inside ``www``,
#: it breaks the automatic links (``http://``, ``www.``, e-mail addresses) that escaping
#: alone does not stop (checked in chromium).
_JOINER = "\u2060"


def as_text(text: object) -> str:
    """A user's text (a file name, a band name, an AOI property, an error that quotes them)
    made safe for Streamlit's Markdown: shown exactly as written, never as a link, markup,
    an icon or HTML.

    Every Markdown-significant ASCII character is backslash-escaped, and an invisible word
    joiner goes only where GitHub-flavoured Markdown would make a link by itself (after ``@``,
    after a ``:`` followed by text, as in ``https://`` or ``mailto:``, and inside ``www``), so
    numbers and names copied from the page stay plain text (``23.28``, ``milano.tif``).
    """
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    escaped = re.sub(r"(?i)(w)(?=ww)", r"\1" + _JOINER, escaped)
    escaped = re.sub(r"(\\:)(?=\S)", r"\1" + _JOINER, escaped)
    return re.sub(r"(\\@)", r"\1" + _JOINER, escaped)


def upload_notes(stacked) -> list[str]:
    """Notes on stacked band uploads (:class:`~urbanseg_core.runs.uploads.StackedUpload`):
    the stacking, files left out, the DN offset; file names are escaped (:func:`as_text`)."""
    notes = [f"Stacked from {stacked.band_files} band files onto a 10 m grid (nearest "
             "neighbour).", *(as_text(n) for n in stacked.notes)]
    if stacked.unused:
        notes.append("Not used (no band in the name): "
                     f"{as_text(', '.join(stacked.unused))}.")
    if stacked.dn_offset is not None:
        box = "ticked" if stacked.dn_offset else "left unticked"
        notes.append(f"{as_text(stacked.metadata)} declares a DN offset of "
                     f"{stacked.dn_offset:g}: the offset box below is {box} accordingly.")
    return notes


def offset_sentence(guess, ticked: bool) -> str:
    """One sentence on the DN offset box: what the file's evidence says
    (:class:`~urbanseg_core.io.bandfolder.OffsetGuess`) and what the box is set to."""
    box = "The box is ticked" if ticked else "The box is unticked"
    if guess is None:
        advice = ("untick it for older or harmonised images" if ticked else
                  "tick it for images made since then that are not harmonised")
        return (f"{box}: nothing in the file tells whether its values carry the 1000 DN "
                f"offset of Sentinel-2 products made since 25 January 2022; {advice}.")
    return f"{box}: {guess.reason[0].lower()}{guess.reason[1:]}"


def codes_words(label: str | None) -> str:
    """How a result's reference was read, for a caption: ``"esm codes"``, ``"auto (ghsl)
    codes"``, ``"auto (esm) codes, classes as in the value table"``."""
    label = label or "unknown"
    return label if "codes" in label else f"{label} codes"


def area_method(method: str) -> str:
    """How areas were measured (:attr:`~urbanseg_core.evaluation.areas.AreaStats.
    pixel_area_method`), in one plain sentence."""
    if method.startswith("planar"):
        grid = method.partition("(")[2].rstrip(")")
        return (f"Areas are counted from the image's pixels on its own map grid "
                f"({as_text(grid)}), where sizes are true to within a fraction of a percent.")
    if method.startswith("geodesic"):
        return ("Areas are measured pixel by pixel on the Earth's ellipsoid (the image is in "
                "longitude and latitude).")
    return "The image has no map coordinates: every pixel is counted as 10 m × 10 m."


#: The Earth Engine connection, click by click, for whoever runs the app (Markdown).
CONNECT_STEPS = """\
1. **Get access**: with a Google account, open
   [code.earthengine.google.com/register](https://code.earthengine.google.com/register) and
   register a Google Cloud project for Earth Engine (free for research and education).
2. **Sign in on the computer that runs this app**: open a terminal there and type
   `earthengine authenticate`; a browser window asks you to sign in and allow access.
3. **Name the project**: in the same terminal, `export EE_PROJECT=your-project-id`, then
   start the app again (or ask its administrator to put the project and a service-account
   key in the app's secrets file, `.streamlit/secrets.toml`).
4. Press **Check the connection again** on the Map & run page (Earth Engine imagery).

Your key stays on that computer: the app never shows it and never writes it into a
manifest."""
