"""The three imagery panels of the Map & run page: sample, upload, Earth Engine.

Each draws its widgets and returns a :class:`SourcePanel`: the run request it makes (or why
Run is disabled), what the map should show before a run, and whether drawing is on. The page
itself only lays the panel, the map and the Run column out (:data:`PANELS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import streamlit as st

from ..aoi import DEFAULT_MAX_KM2
from ..errors import UrbansegError
from ..io.references import CODE_NAMES
from ..runs.request import RunRequest
from ..runs.uploads import (
    BAND_CHOICES, MAX_PIXELS, RasterInfo, check_band_order, inspect_raster, save_band_uploads,
    save_upload,
)
from ..sentinel2 import L2A_OFFSET, band_of
from . import earthengine, resources, state
from .controller import measured_throughput, sample_request
from .messages import upload_notes
from .widgets import show_error

UPLOAD = "urbanseg_upload"          # {"path", "sha256", "name"} of the kept upload
UPLOAD_FAILED = "urbanseg_upload_failed"  # (file ids, error) of band files that did not stack
REFERENCE = "urbanseg_reference"    # {"path", "sha256", "name"} of the kept reference
BANDS = "urbanseg_band_order"       # {sha256: tuple of band names}
EXPORTS = "urbanseg_exports"        # ids of export tasks started from this session

UPLOAD_HELP = ("A multi-band GeoTIFF with the bands B2, B3, B4, B5, B6, B7, B8, B8A, B9, B11, "
               "B12 (more bands are fine), or the single-band files of one image with the band "
               "in each name (..._B02.tif, ..._B8A_20m.jp2), stacked here onto a 10 m grid. "
               "Add the product's MTD_MSIL2A.xml (or MTD_MSIL1C.xml) to read its DN offset "
               "from it.")
OFFSET_HELP = ("Sentinel-2 L2A products of processing baseline 04.00 and later (all since 25 "
               "January 2022, and older scenes reprocessed since) add 1000 to every value: the "
               "product's BOA_ADD_OFFSET in MTD_MSIL2A.xml is -1000. Not for harmonised "
               "collections (Earth Engine's S2_SR_HARMONIZED).")


@dataclass
class SourcePanel:
    """What a panel decided: the request to run, or the sentence saying why not."""

    request: RunRequest | None = None
    problem: str | None = None
    map_view: tuple | None = None          # (true colour layer, outline) shown before a run
    draw: bool = False                     # drawing tools on the map
    ee_tiles: list = field(default_factory=list)  # Earth Engine tile layers


def sample_panel() -> SourcePanel:
    """The bundled sample scene: nothing to choose."""
    view = resources.sample_view()
    st.caption("Sentinel-2 Level-1C, tile T33UUU, 16 February 2017: 10.2 × 7.7 km west of "
               "Berlin (Nauen and villages). Contains modified Copernicus Sentinel data 2017.")
    return SourcePanel(request=sample_request(), map_view=(view.true_colour, view.outline))


# ------------------------------------------------------------------------------ upload panel

def keep_upload(ups) -> None:
    """Store new uploads once: one file as it is, several band files as one 10 m stack."""
    kept = st.session_state.get(UPLOAD) or {}
    ids = tuple(u.file_id for u in ups or ())
    if not ids or kept.get("file_id") == ids:  # hash each upload once
        return
    failed = st.session_state.get(UPLOAD_FAILED)
    if failed and failed[0] == ids:  # a set that could not be stacked: say so, do not redo it
        show_error(failed[1])
        return
    if len(ups) == 1 and not ups[0].name.lower().endswith(".xml"):
        path, sha = save_upload(ups[0].getvalue(), ups[0].name)
        st.session_state[UPLOAD] = {"path": str(path), "sha256": sha, "name": ups[0].name,
                                    "file_id": ids}
        return
    with st.spinner(f"Stacking {len(ups)} band files onto a 10 m grid..."):
        try:
            stacked = save_band_uploads([(u.name, u.getvalue()) for u in ups])
        except UrbansegError as exc:
            st.session_state[UPLOAD_FAILED] = (ids, exc)
            show_error(exc)
            return
    st.session_state[UPLOAD] = {"path": str(stacked.path), "sha256": stacked.sha256,
                                "file_id": ids, "name": stacked.path.name,
                                "notes": upload_notes(stacked)}
    if stacked.dn_offset is not None:  # the metadata decides; the user may still untick it
        st.session_state["w_offset"] = stacked.dn_offset == L2A_OFFSET


def reference_upload() -> None:
    """The optional reference mask: upload, codes, remove."""
    ref = st.file_uploader("Optional: reference mask to compare with (GeoTIFF)",
                           type=["tif", "tiff"], key="w_reference",
                           help="Land-use classes in index (0/1/2), ESM, GHSL or CORINE "
                                "codes; it is reprojected to the image's grid.")
    kept_ref = st.session_state.get(REFERENCE) or {}
    removed = st.session_state.get("urbanseg_reference_removed")
    if ref is not None and ref.file_id not in (kept_ref.get("file_id"), removed):
        rpath, rsha = save_upload(ref.getvalue(), ref.name)
        st.session_state[REFERENCE] = {"path": str(rpath), "sha256": rsha,
                                       "name": ref.name, "file_id": ref.file_id}
    kept_ref = st.session_state.get(REFERENCE)
    if kept_ref:
        st.caption(f"Reference: **{kept_ref['name']}**")
        st.selectbox("Reference codes", CODE_NAMES, key="w_ref_codes",
                     help="auto: detected from the values in the file.")
        if st.button("Remove the reference", key="w_ref_remove"):
            st.session_state["urbanseg_reference_removed"] = kept_ref.get("file_id")
            st.session_state.pop(REFERENCE, None)
            st.rerun()


def _inspect(kept: dict, panel: SourcePanel) -> RasterInfo | None:
    """The kept upload's header, or ``None`` (with the reason shown) when it cannot be run."""
    try:
        info = inspect_raster(kept["path"])
    except UrbansegError as exc:
        show_error(exc)
        panel.problem = "This file cannot be used; upload another one."
        return None
    band = band_of(kept["name"])
    if info.count == 1 and band:
        st.error(f"{kept['name']} is one band ({band}) of an image. Select all its band files "
                 "together (B2 ... B12; Ctrl- or Shift-click in the file dialog), or upload "
                 "one multi-band GeoTIFF.")
        panel.problem = "Upload all the band files of the image."
        return None
    speed = measured_throughput()
    guess = (f" The model needs about {info.width * info.height / speed:,.0f} s for it on "
             "this computer." if speed else "")
    st.caption(f"{info.count} bands, {info.width} × {info.height} px, {info.dtype}, CRS "
               f"{info.crs}. {info.how}{guess}")
    if info.footprint is not None:
        panel.map_view = (None, info.footprint)
    if info.width * info.height > MAX_PIXELS:
        st.error(f"This image has {info.width * info.height:,} pixels, more than the "
                 f"{MAX_PIXELS:,} the app handles at once. Crop it to a smaller area, or use "
                 "the `urbanseg batch` command for whole regions.")
        panel.problem = "The image is too large for the app."
    return info


def band_form(kept: dict, info: RasterInfo, panel: SourcePanel) -> tuple[str, ...] | None:
    """The band-mapping form of a file without band names; the checked order, or ``None``."""
    orders = st.session_state.setdefault(BANDS, {})
    chosen = list(orders.get(kept["sha256"], info.default_order))
    with st.expander("Band mapping: which Sentinel-2 band is each band of the file?",
                     expanded=True):
        cols = st.columns(min(6, info.count))
        for i in range(info.count):
            with cols[i % len(cols)]:
                key = f"w_band_{kept['sha256'][:8]}_{i}"
                if key not in st.session_state:
                    st.session_state[key] = chosen[i] if chosen[i] in BAND_CHOICES else ""
                chosen[i] = st.selectbox(f"Band {i + 1}", BAND_CHOICES,
                                         format_func=lambda b: b or "(not used)", key=key)
    orders[kept["sha256"]] = tuple(chosen)
    try:
        return check_band_order(tuple(chosen))
    except UrbansegError as exc:
        show_error(exc)
        panel.problem = "Complete the band mapping first."
        return None


def _upload_request(kept: dict, order: tuple[str, ...] | None, offset: bool) -> RunRequest:
    kept_ref = st.session_state.get(REFERENCE)
    return RunRequest(
        kind="upload", name=kept["name"], path=kept["path"], sha256=kept["sha256"],
        band_order=order, dn_offset=L2A_OFFSET if offset else 0.0,
        reference_path=kept_ref["path"] if kept_ref else None,
        reference_sha256=kept_ref["sha256"] if kept_ref else None,
        reference_codes=st.session_state.get("w_ref_codes", "auto"))


def upload_panel() -> SourcePanel:
    """An uploaded GeoTIFF, its band mapping and an optional reference mask."""
    panel = SourcePanel()
    col_img, col_ref = st.columns(2)
    with col_img:
        keep_upload(st.file_uploader(
            "Sentinel-2 GeoTIFF, or one file per band (up to 200 MB each)",
            type=["tif", "tiff", "jp2", "xml"], key="w_upload", accept_multiple_files=True,
            help=UPLOAD_HELP))
    with col_ref:
        reference_upload()
    kept = st.session_state.get(UPLOAD)
    if not kept:
        panel.problem = "Upload a GeoTIFF, or the band files of one image, first."
        return panel
    st.caption(f"Image: **{kept['name']}**")
    for note in kept.get("notes", ()):
        st.info(note)
    info = _inspect(kept, panel)
    if info is None:
        return panel
    order = None if info.named else band_form(kept, info, panel)
    offset = st.checkbox("Level-2A product of processing baseline 04.00 or later (subtract "
                         "the 1000 DN offset)", key="w_offset", help=OFFSET_HELP)
    if panel.problem is None:
        panel.request = _upload_request(kept, order, offset)
    return panel


# ------------------------------------------------------------------------ Earth Engine panel

def connection_box() -> bool:
    """The connection status (and a button to check again); whether Earth Engine is there."""
    connected, message = earthengine.status()
    if connected:
        st.success(message)
    else:
        st.warning(message)
        if st.button("Check the connection again", key="w_ee_recheck"):
            earthengine.recheck()
            st.rerun()
    return connected


def composite_options():
    """Date range, cloud threshold and the GeoJSON upload; ``(dates, cloud)``."""
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        if "w_dates" not in st.session_state:  # 2018: the GHSL reference's epoch
            st.session_state["w_dates"] = (date(2018, 1, 1), date(2018, 12, 31))
        dates = st.date_input("Date range of the composite (default 2018, the year of the "
                              "GHSL reference; a whole year is safest)",
                              min_value=date(2017, 3, 28), max_value=date.today(),
                              key="w_dates",
                              help="Sentinel-2 surface reflectance exists from March 2017; "
                                   "the median of the clear observations is used.")
    with c2:
        st.session_state.setdefault("w_cloud", 0.6)
        cloud = st.slider("Cloud masking: keep pixels at least this likely to be clear",
                          0.0, 1.0, step=0.05, key="w_cloud",
                          help="Cloud Score+ clear probability (cs_cdf). Higher removes more "
                               "clouds and haze but leaves fewer observations; 0.6 suits "
                               "most places.")
    with c3:
        aoi_upload()
    return dates, cloud


def aoi_upload() -> None:
    """A GeoJSON AOI upload, applied once per file (so a later drawing is not overridden)."""
    gj = st.file_uploader("…or upload a GeoJSON area", type=["geojson", "json"],
                          key="w_aoi_upload")
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
                   "Storage (minutes to hours); segment it with `urbanseg batch`.")
        dest = st.radio("Destination", ["drive", "gcs"], horizontal=True,
                        key="w_export_dest",
                        format_func={"drive": "Google Drive", "gcs": "Cloud Storage"}.get)
        bucket = st.text_input("Bucket", key="w_export_bucket", disabled=dest != "gcs")
        if st.button("Start the export", key="w_export_start"):
            try:
                task_id, note = earthengine.start_export(aoi, *_date_range(dates),
                                                         float(cloud), dest, bucket or None)
                st.session_state.setdefault(EXPORTS, []).append(task_id)
                st.success(note)
            except UrbansegError as exc:
                show_error(exc)


def aoi_metrics(aoi: dict) -> dict:
    """Area, download size and time of the AOI as three metrics; the summary."""
    s = earthengine.aoi_summary(aoi, px_per_s=measured_throughput())
    m1, m2, m3 = st.columns(3)
    m1.metric("Area", f"{s['area_km2']:,.1f} km²" if s["area_km2"] is not None else "–")
    m2.metric("Download", f"{s['megabytes']:,.0f} MB" if s["megabytes"] is not None else "–")
    m3.metric("Estimated time", f"~{s['seconds']:,.0f} s" if s["seconds"] else "–")
    return s


def _aoi_request(panel: SourcePanel, aoi: dict, dates, cloud: float, connected: bool) -> None:
    """Decide the Earth Engine panel's request (or problem) for a drawn AOI."""
    s = aoi_metrics(aoi)
    if s["error"]:
        st.error(s["error"])
        panel.problem = "Choose a smaller or valid area."
        if connected and (s["area_km2"] or 0) > DEFAULT_MAX_KM2:
            export_offer(aoi, dates, cloud)
    elif not connected:
        panel.problem = "Earth Engine is not connected (see above)."
    elif not isinstance(dates, tuple) or len(dates) != 2:
        panel.problem = "Choose a start and an end date."
    else:
        geometry = json.dumps(aoi, sort_keys=True)
        start, end = _date_range(dates)
        panel.ee_tiles, tiles_problem = earthengine.tile_layers(geometry, start, end,
                                                                float(cloud))
        if tiles_problem:
            st.caption(tiles_problem)
        panel.request = RunRequest(kind="earthengine", name="earthengine_aoi", aoi=geometry,
                                   start=start, end=end, cloud_threshold=float(cloud))


def export_tasks(connected: bool) -> None:
    """The export tasks started from this session, with their state."""
    if st.session_state.get(EXPORTS) and connected:
        with st.expander("Export tasks", expanded=False):
            for line in earthengine.export_messages(st.session_state[EXPORTS]):
                st.caption(line)
            st.button("Refresh the status", key="w_export_refresh")


def earthengine_panel() -> SourcePanel:
    """An AOI drawn or uploaded for Earth Engine, dates, cloud masking, export offer."""
    panel = SourcePanel(draw=True)
    connected = connection_box()
    dates, cloud = composite_options()
    st.caption("Draw a rectangle or polygon with the tools on the left of the map.")
    aoi = state.get(state.AOI)
    if aoi is None:
        panel.problem = "Draw an area on the map or upload a GeoJSON file."
    else:
        _aoi_request(panel, aoi, dates, cloud, connected)
    export_tasks(connected)
    if aoi is not None and st.button("Clear the area", key="w_aoi_clear"):
        state.put(state.AOI, None)
        # a fresh map without the drawn shape (otherwise it would be read back at once)
        st.session_state["urbanseg_map_epoch"] = st.session_state.get(
            "urbanseg_map_epoch", 0) + 1
        st.rerun()
    return panel


#: Source choice -> (label, panel).
PANELS = {
    "sample": ("Sample scene (west of Berlin, 16 Feb 2017)", sample_panel),
    "upload": ("Upload a Sentinel-2 GeoTIFF", upload_panel),
    "earthengine": ("Area from Earth Engine", earthengine_panel),
}
