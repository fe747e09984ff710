"""The three imagery panels of the Map & run page: sample, upload, Earth Engine.

Each draws its widgets (through :func:`~.state.bind`, so what they show is the settings model)
and returns a :class:`SourcePanel`: the run request it makes from the model, why Run is
disabled, what the map shows before a run, whether drawing is on, and a one-line summary of
what Run will use (shown under the button). The page itself only lays the panel, the map and
the Run column out (:data:`PANELS`). Names of files, bands and areas are shown as text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import streamlit as st

from ..aoi import DEFAULT_MAX_KM2
from ..errors import UrbansegError
from ..io.references import default_classes, reference_values
from ..runs.request import RunRequest
from ..runs.uploads import (BAND_CHOICES, MAX_PIXELS, RasterInfo, check_band_order,
                            inspect_raster, save_band_uploads, save_upload)
from ..sentinel2 import CLASS_NAMES, L2A_OFFSET, NODATA, band_of
from . import earthengine, resources, state
from .controller import measured_throughput, sample_request
from .messages import CONNECT_STEPS, as_text, offset_sentence, upload_notes
from .widgets import show_error

UPLOAD = "urbanseg_upload"          # {"path", "sha256", "name", "file_id", ...} of the image
FAILED_SUFFIX = "_failed"           # kept key + this: (file ids, error) of unusable files
UPLOAD_FAILED = UPLOAD + FAILED_SUFFIX
REFERENCE = "urbanseg_reference"    # {"path", "sha256", "name", "file_id", "values", "codes"}
SEEN = "urbanseg_uploader_seen"     # uploader key -> file ids it held on the previous run
EXPORTS = "urbanseg_exports"        # ids of export tasks started from this session

UPLOAD_HELP = ("A multi-band GeoTIFF with the bands B2, B3, B4, B5, B6, B7, B8, B8A, B9, B11, "
               "B12 (more bands are fine), or the single-band files of one image with the band "
               "in each name (..._B02.tif, ..._B8A_20m.jp2), stacked here onto a 10 m grid. "
               "Add the product's MTD_MSIL2A.xml (or MTD_MSIL1C.xml) to read its DN offset "
               "from it. Up to 1 GB per file.")
OFFSET_LABEL = ("Subtract the 1000 DN offset (Sentinel-2 products made since 25 January "
                "2022, processing baseline 04.00 or later)")
OFFSET_HELP = ("Products of processing baseline 04.00 and later (all since 25 January 2022, "
               "and older scenes reprocessed since) add 1000 to every value: the product's "
               "BOA_ADD_OFFSET or RADIO_ADD_OFFSET is -1000. Harmonised collections (Earth "
               "Engine's S2_SR_HARMONIZED) have removed it already.")
#: Under a kept file: Streamlit's upload box is empty again after a page switch.
KEPT = ("Kept while you switch pages (the box above then looks empty): drop another file "
        "there to replace it.")
#: Class choices of the reference value table: class index (255: not compared).
CLASS_CHOICES = (0, 1, 2, NODATA)
#: Fallback model speed for time estimates before any run on this machine, px/s.
DEFAULT_SPEED = 150_000


@dataclass
class SourcePanel:
    """What a panel decided: the request to run, or the sentence saying why not."""

    request: RunRequest | None = None
    problem: str | None = None
    map_view: tuple | None = None          # (true colour layer, outline) shown before a run
    draw: bool = False                     # drawing tools on the map
    ee_tiles: list = field(default_factory=list)  # Earth Engine tile layers
    summary: str = ""                      # what Run will use, in words


def sample_panel() -> SourcePanel:
    """The bundled sample scene, and an optional reference mask with its value table."""
    view = resources.sample_view()
    st.caption("Sentinel-2 Level-1C, tile T33UUU, 16 February 2017: 10.2 × 7.7 km west of "
               "Berlin (Nauen and villages). Contains modified Copernicus Sentinel data 2017. "
               "A winter scene with haze in the east: the model marks the larger built-up "
               "areas and misses villages among trees, such as the one north of the lake in "
               "the centre.")
    request, summary = _with_reference(sample_request(), reference_upload(),
                                       "Run will use: the sample scene")
    return SourcePanel(request=request, map_view=(view.true_colour, view.outline),
                       summary=summary)


# ------------------------------------------------------------------------------ uploads

def _changed_uploads(files, key: str, kept_key: str) -> bool:
    """Record what an uploader holds; when the user removed every file from it (it held
    some on the previous run), forget the kept upload. Returns whether there are files."""
    ids = tuple(f.file_id for f in files or ())
    seen = st.session_state.setdefault(SEEN, {})
    before = seen.get(key)
    seen[key] = ids
    if not ids and before:
        st.session_state.pop(kept_key, None)
    return bool(ids)


def keep_upload(files, key: str, kept_key: str = UPLOAD) -> None:
    """Store new uploads once under ``kept_key`` (:data:`UPLOAD`, or one date of the Compare
    two dates page): one file as it is, several band files as one 10 m stack; a set that
    cannot be used replaces the earlier choice (Run stays off) and says why."""
    if not _changed_uploads(files, key, kept_key):
        return
    ids = tuple(f.file_id for f in files)
    if (st.session_state.get(kept_key) or {}).get("file_id") == ids:  # hash each upload once
        return
    failed_key = kept_key + FAILED_SUFFIX
    failed = st.session_state.get(failed_key)
    if failed and failed[0] == ids:
        show_error(failed[1])
        return
    st.session_state.pop(kept_key, None)
    try:
        if len(files) == 1 and not files[0].name.lower().endswith(".xml"):
            path, sha = save_upload(files[0].getvalue(), files[0].name)
            kept = {"path": str(path), "sha256": sha, "name": files[0].name}
        else:
            with st.spinner(f"Stacking {len(files)} band files onto a 10 m grid..."):
                stacked = save_band_uploads([(f.name, f.getvalue()) for f in files])
            kept = {"path": str(stacked.path), "sha256": stacked.sha256,
                    "name": stacked.path.name, "notes": upload_notes(stacked),
                    "declared": stacked.dn_offset, "guess": stacked.offset_guess}
    except UrbansegError as exc:
        st.session_state[failed_key] = (ids, exc)
        show_error(exc)
        return
    st.session_state[kept_key] = {**kept, "file_id": ids}


def _estimate(info: RasterInfo) -> str:
    """Size and time of a raster, in words."""
    side = info.pixel_size if info.crs != "none" else 10.0
    km = f" ({info.width * side / 1000:,.1f} × {info.height * side / 1000:,.1f} km)" \
        if side >= 1 else ""
    speed = measured_throughput()
    seconds = info.pixels / (speed or DEFAULT_SPEED)
    how = "measured on this computer" if speed else "a first guess"
    took = f"{seconds / 60:,.0f} min" if seconds >= 90 else f"{max(seconds, 1):,.0f} s"
    return (f"{info.width:,} × {info.height:,} px{km}, {info.count} bands: the model needs "
            f"about {took} for it ({how}).")


def inspect_upload(kept: dict, panel: SourcePanel) -> RasterInfo | None:
    """The kept upload's header, or ``None`` (with the reason shown) when it cannot be run."""
    try:
        info = inspect_raster(kept["path"], kept["name"])
    except UrbansegError as exc:
        show_error(exc)
        panel.problem = "This file cannot be used; upload another one."
        return None
    band = band_of(kept["name"])
    if info.count == 1 and band:
        st.error(as_text(f"{kept['name']} is one band ({band}) of an image.") + " Select all "
                 "its band files together (B2 ... B12; Ctrl- or Shift-click in the file "
                 "dialog), or upload one multi-band GeoTIFF.")
        panel.problem = "Upload all the band files of the image."
        return None
    st.caption(_estimate(info) + " " + as_text(info.how))
    if info.footprint is not None:
        picture = resources.upload_view(kept["path"], os.stat(kept["path"]).st_mtime_ns) \
            if info.named else None
        panel.map_view = (picture, info.footprint)
    if info.pixels > MAX_PIXELS:
        st.error(f"This image has {info.pixels:,} pixels, more than the {MAX_PIXELS:,} the "
                 "app segments (11,000 × 11,000). Crop it to a smaller area.")
        panel.problem = "The image is too large for the app."
    return info


def band_form(kept: dict, info: RasterInfo, panel: SourcePanel) -> tuple[str, ...] | None:
    """The band-mapping form of a file without band names; the checked order, or ``None``."""
    chosen = []
    with st.expander("Band mapping: which Sentinel-2 band is each band of the file?",
                     expanded=True):
        cols = st.columns(min(6, info.count))
        for i in range(info.count):
            with cols[i % len(cols)]:
                proposed = info.default_order[i]
                chosen.append(state.bind(
                    st.selectbox, "band_orders", f"Band {i + 1}",
                    item=f"{kept['sha256'][:16]}:{i}",
                    default=proposed if proposed in BAND_CHOICES else "",
                    options=BAND_CHOICES, format_func=lambda b: b or "(not used)"))
    try:
        return check_band_order(tuple(chosen))
    except UrbansegError as exc:
        show_error(exc)
        panel.problem = "Complete the band mapping first."
        return None


def offset_box(kept: dict, info: RasterInfo) -> bool:
    """The DN offset box, ticked from the file's metadata, name, darkest pixels or date, with
    one sentence saying which."""
    guess = info.offset_guess if kept.get("guess") is None else kept["guess"]
    declared = kept.get("declared")
    default = (declared == L2A_OFFSET if declared is not None
               else guess is not None and guess.offset == L2A_OFFSET)
    ticked = state.bind(st.checkbox, "level2a", OFFSET_LABEL, item=kept["sha256"][:16],
                        default=default, help=OFFSET_HELP)
    if declared is None:
        st.caption(as_text(offset_sentence(guess, ticked)))
    return ticked


def value_key(ref: dict, value) -> str:
    """The setting (and widget item) of one value of a reference's value table."""
    return f"{ref['sha256'][:16]}:{value}"


def _reference_table(ref: dict) -> tuple[tuple[int, int], ...]:
    """The value table of a reference: each value found, its pixels, the class it is read
    as (proposed from the detected codes, changeable). Returns ``((value, class), ...)``."""
    proposed = default_classes([v for v, _ in ref["values"]], ref["codes"])
    unlabelled = ref.get("nodata_px", 0)
    st.caption("Values found in the reference and the class each one is compared with "
               f"(detected codes: {ref['codes'] or 'none'}). Change any that is wrong."
               + (f" {unlabelled:,} px hold the file's no-data value and are not compared."
                  if unlabelled else ""))
    names = {**dict(enumerate(CLASS_NAMES)), NODATA: "no data (not compared)"}
    table = []
    cols = st.columns(min(4, max(1, len(ref["values"]))))
    for i, (value, pixels) in enumerate(ref["values"]):
        with cols[i % len(cols)]:
            cls = state.bind(st.selectbox, "ref_values", f"Value {value} ({pixels:,} px)",
                             item=value_key(ref, value), default=proposed[value],
                             options=CLASS_CHOICES, format_func=names.get)
        table.append((value, int(cls)))
    return tuple(table)


def _store_reference(upload) -> None:
    """Save a new reference upload and read the values it holds."""
    try:
        path, sha = save_upload(upload.getvalue(), upload.name)
        values, codes, nodata_px = reference_values(path)
    except UrbansegError as exc:
        st.session_state.pop(REFERENCE, None)
        show_error(exc)
        return
    st.session_state[REFERENCE] = {"path": str(path), "sha256": sha, "name": upload.name,
                                   "file_id": upload.file_id, "values": values,
                                   "codes": codes, "nodata_px": nodata_px}


def reference_upload() -> tuple[tuple[int, int], ...] | None:
    """The optional reference mask: upload, its value table, remove. Returns the table."""
    key = state.widget_key("reference")
    ref_file = st.file_uploader("Optional: a reference mask to compare with (GeoTIFF)",
                                type=["tif", "tiff"], key=key,
                                help="Land-use classes in any codes (0/1/2, ESM, GHSL, "
                                     "CORINE...): you say which value is which class. It is "
                                     "put on the image's grid for you.")
    if _changed_uploads([ref_file] if ref_file else [], key, REFERENCE) and \
            (st.session_state.get(REFERENCE) or {}).get("file_id") != ref_file.file_id:
        _store_reference(ref_file)
    ref = st.session_state.get(REFERENCE)
    if not ref:
        return None
    st.text(f"Reference: {ref['name']}")
    st.caption(KEPT)
    table = _reference_table(ref)
    if st.button("Remove the reference", key=state.widget_key("reference_remove")):
        st.session_state.pop(REFERENCE, None)
        st.rerun()
    return table


def _with_reference(request: RunRequest, table, summary: str) -> tuple[RunRequest, str]:
    """``request`` and the "Run will use" ``summary`` with the kept reference and its value
    ``table`` added (both unchanged without a reference)."""
    ref = st.session_state.get(REFERENCE) if table else None
    if not ref:
        return request, as_text(summary + ".")
    return (replace(request, reference_path=ref["path"], reference_sha256=ref["sha256"],
                    reference_codes="auto", reference_values=table),
            as_text(f"{summary}, reference {ref['name']}."))


def kept_image(kept: dict, kept_key: str = UPLOAD, label: str = "Image",
               remove: str = "upload_remove") -> None:
    """The kept image's name (as text, after ``label``), its notes and a button (widget name
    ``remove``) that forgets it."""
    st.text(f"{label}: {kept['name']}")
    st.caption(KEPT)
    for note in kept.get("notes", ()):
        st.info(note)
    if st.button("Remove the image", key=state.widget_key(remove)):
        st.session_state.pop(kept_key, None)
        st.rerun()


def upload_panel() -> SourcePanel:
    """An uploaded GeoTIFF (or band files), its band mapping, DN offset and an optional
    reference mask with its value table."""
    panel = SourcePanel()
    col_img, col_ref = st.columns(2)
    with col_img:
        key = state.widget_key("upload")
        keep_upload(st.file_uploader("Sentinel-2 GeoTIFF, or one file per band",
                                     type=["tif", "tiff", "jp2", "xml"], key=key,
                                     accept_multiple_files=True, help=UPLOAD_HELP), key)
        kept = st.session_state.get(UPLOAD)
        if kept:
            kept_image(kept)
    with col_ref:
        table = reference_upload()
    if not kept:
        panel.problem = "Upload a GeoTIFF, or the band files of one image, first."
        return panel
    info = inspect_upload(kept, panel)
    if info is None:
        return panel
    order = None if info.named else band_form(kept, info, panel)
    offset = offset_box(kept, info)
    panel.request, panel.summary = _with_reference(
        RunRequest(kind="upload", name=kept["name"], path=kept["path"], sha256=kept["sha256"],
                   band_order=order, dn_offset=L2A_OFFSET if offset else 0.0),
        table, f"Run will use: {kept['name']}, offset {'-1000' if offset else '0'} DN")
    return panel


# ------------------------------------------------------------------------ Earth Engine

@st.fragment(run_every=1.0)
def _checking() -> None:
    """While the connection is checked in the background: a note, redrawn every second;
    the whole page is drawn again once the answer is in."""
    if earthengine.status().state != "checking":
        st.rerun(scope="app")
    st.info("Checking the Earth Engine connection (a few seconds)... The sample scene and "
            "your own files work meanwhile.")


def connection_box() -> bool:
    """The connection status (checked in the background) and how to connect; whether Earth
    Engine is there."""
    now = earthengine.status()
    if now.state == "checking":
        _checking()
        return False
    if now.connected:
        st.success(as_text(now.detail))
        return True
    if now.state == "no answer":
        st.warning("Earth Engine did not answer within a few seconds: this computer may be "
                   "offline. The sample scene and your own files work without it.")
    else:
        st.warning("Earth Engine is not connected here. The sample scene and your own files "
                   "work without it.")
    with st.expander("How to connect Earth Engine"):
        st.markdown(CONNECT_STEPS)
        with st.expander("Technical detail"):
            st.text(now.detail)
    if st.button("Check the connection again", key=state.widget_key("ee_recheck")):
        earthengine.recheck()
        st.rerun()
    return False


def composite_options():
    """Date range and cloud threshold; ``(dates, cloud)`` (GeoJSON upload: its own row)."""
    c1, c2 = st.columns(2)
    with c1:
        dates = state.bind(st.date_input, "dates", "Date range of the composite (default 2018, "
                           "the year of the GHSL reference; a whole year is safest)",
                           min_value=date(2017, 3, 28), max_value=date.today(),
                           help="Sentinel-2 surface reflectance exists from March 2017; "
                                "the median of the clear observations is used.")
    with c2:
        cloud = state.bind(st.slider, "cloud", "Cloud masking: keep pixels at least this "
                           "likely to be clear", min_value=0.0, max_value=1.0, step=0.05,
                           help="Cloud Score+ clear probability (cs_cdf). Higher removes "
                                "more clouds and haze but leaves fewer observations; 0.6 "
                                "suits most places.")
    return dates, cloud


def aoi_upload() -> None:
    """A GeoJSON AOI upload, applied once per file (so a later drawing is not overridden)."""
    gj = st.file_uploader("Or upload the area as a GeoJSON file (a polygon in "
                          "longitude/latitude)", type=["geojson", "json"],
                          key=state.widget_key("aoi_upload"))
    if gj is not None and st.session_state.get("urbanseg_aoi_file") != gj.file_id:
        try:
            state.put(state.AOI, earthengine.parse_upload(gj.getvalue()))
            st.session_state["urbanseg_aoi_file"] = gj.file_id
        except UrbansegError as exc:
            show_error(exc)


def _date_range(dates) -> tuple[str, str]:
    """ISO start and end (excluded) of the date widget's inclusive range."""
    return dates[0].isoformat(), (dates[1] + timedelta(days=1)).isoformat()


def export_offer(aoi: dict, dates, cloud: float) -> None:
    """Too large to run here: start an Earth Engine export of the composite instead."""
    with st.expander("Too large to run here? Export the composite instead", expanded=True):
        st.caption("Earth Engine writes the composite as a GeoTIFF to Google Drive or Cloud "
                   "Storage (minutes to hours); it can then be segmented as a whole region.")
        dest = state.bind(st.radio, "export_dest", "Destination", options=["drive", "gcs"],
                          horizontal=True,
                          format_func={"drive": "Google Drive", "gcs": "Cloud Storage"}.get)
        bucket = state.bind(st.text_input, "export_bucket", "Bucket", disabled=dest != "gcs")
        if st.button("Start the export", key=state.widget_key("export_start")):
            try:
                task_id, note = earthengine.start_export(aoi, *_date_range(dates),
                                                         float(cloud), dest, bucket or None)
                st.session_state.setdefault(EXPORTS, []).append(task_id)
                st.success(as_text(note))
            except UrbansegError as exc:
                show_error(exc)


def aoi_metrics(aoi: dict | None) -> dict:
    """Area, download size and time of the AOI as three metrics (dashes before an area is
    drawn, so drawing does not move the map); the summary."""
    s = (earthengine.aoi_summary(aoi, px_per_s=measured_throughput()) if aoi is not None
         else {"area_km2": None, "megabytes": None, "seconds": None, "error": None})
    m1, m2, m3 = st.columns(3)
    m1.metric("Area", f"{s['area_km2']:,.1f} km²" if s["area_km2"] is not None else "–")
    m2.metric("Download", f"{s['megabytes']:,.0f} MB" if s["megabytes"] is not None else "–")
    m3.metric("Estimated time", f"~{s['seconds']:,.0f} s" if s["seconds"] else "–")
    return s


def _aoi_request(panel: SourcePanel, aoi: dict, dates, cloud: float, connected: bool) -> None:
    """Decide the Earth Engine panel's request (and why Run is off) for a drawn AOI."""
    if not isinstance(dates, tuple) or len(dates) != 2:
        panel.problem = "Choose a start and an end date."
        return
    geometry = json.dumps(aoi, sort_keys=True)
    start, end = _date_range(dates)
    panel.request = RunRequest(kind="earthengine", name="earthengine_aoi", aoi=geometry,
                               start=start, end=end, cloud_threshold=float(cloud))
    panel.summary = (f"Run will use: the drawn area, {dates[0]:%d %b %Y} to "
                     f"{dates[1]:%d %b %Y}, cloud masking {float(cloud):.2f}.")
    if not connected:
        panel.problem = "Earth Engine is not connected (see above)."
        return
    panel.ee_tiles, tiles_problem = earthengine.tile_layers(geometry, start, end, float(cloud))
    if tiles_problem:
        st.caption(as_text(tiles_problem))


def export_tasks(connected: bool) -> None:
    """The export tasks started from this session, with their state."""
    if st.session_state.get(EXPORTS) and connected:
        with st.expander("Export tasks", expanded=False):
            for line in earthengine.export_messages(st.session_state[EXPORTS]):
                st.caption(as_text(line))
            st.button("Refresh the status", key=state.widget_key("export_refresh"))


def clear_area_button() -> None:
    if st.button("Clear the area", key=state.widget_key("aoi_clear")):
        state.put(state.AOI, None)
        # a fresh map without the drawn shape (otherwise it would be read back at once)
        st.session_state["urbanseg_map_epoch"] = st.session_state.get(
            "urbanseg_map_epoch", 0) + 1
        st.rerun()


def earthengine_panel() -> SourcePanel:
    """An AOI drawn or uploaded for Earth Engine, dates, cloud masking, export offer."""
    panel = SourcePanel(draw=True)
    connected = connection_box()
    dates, cloud = composite_options()
    aoi_upload()
    st.caption("Draw a rectangle or polygon with the tools on the left of the map.")
    aoi = state.get(state.AOI)
    s = aoi_metrics(aoi)
    if aoi is None:
        panel.problem = "Draw an area on the map or upload a GeoJSON file."
    elif s["error"]:
        st.error(as_text(s["error"]))
        panel.problem = "Choose a smaller or valid area."
        if connected and (s["area_km2"] or 0) > DEFAULT_MAX_KM2:
            export_offer(aoi, dates, cloud)
    else:
        _aoi_request(panel, aoi, dates, cloud, connected)
    export_tasks(connected)
    if aoi is not None:
        clear_area_button()
    return panel


#: Source choice -> (label, panel).
PANELS = {
    "sample": ("Sample scene (west of Berlin, 16 Feb 2017)", sample_panel),
    "upload": ("Upload Sentinel-2 files", upload_panel),
    "earthengine": ("Area from Earth Engine", earthengine_panel),
}
