"""The Compare two dates page: two images of one area (or two Earth Engine date ranges for an
area drawn on the map) -> what became built up, what was lost, what changed use.

The inputs reuse the Map & run page's pieces (:mod:`.panels`: uploads stored once, the band
form, the DN offset box, the Earth Engine connection and AOI), every widget bound to the
settings model (:mod:`.state`). Compare runs a
:class:`~urbanseg_core.runs.change_request.ChangeRequest` through the run queue and its cache
(:func:`~.runner.cached_change`) with a progress box; the result (a
:class:`~urbanseg_core.runs.change_compute.ChangeRunResult`) is kept in the session and shown
as two linked maps (before left, after right, the from-to layer switchable), the from-to
table in km², a chart of each class's area at both dates, and downloads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from ..change.codes import PAIR_COLOURS
from ..runs.change_compute import MAX_CHANGE_PIXELS
from ..runs.change_request import WHICH, ChangeRequest
from ..runs.request import RunRequest
from ..sentinel2 import L2A_OFFSET
from . import state
from .controller import SessionKeys, run_request
from .map import MapSide, Overlay, aoi_group, build_dynamic_map, compare_map
from .mapcontrols import class_items
from .messages import as_text
from .panels import (UPLOAD_HELP, SourcePanel, aoi_metrics, aoi_upload, band_form,
                     clear_area_button, connection_box, inspect_upload, keep_upload,
                     kept_image, offset_box)
from .runner import cached_change
from .views import earth_engine_view, keep_drawing, run_button
from .widgets import download_row, render_map

#: Where each date's upload is kept (as :data:`.panels.UPLOAD` for the Map & run page).
KEPT = {which: f"urbanseg_change_upload_{which}" for which in WHICH}
LABELS = {"before": "Before", "after": "After"}
#: The two ways to give the dates.
MODES = {"upload": "Upload two images", "earthengine": "Two date ranges (Earth Engine)"}
#: Where a change run keeps its outcome in the session.
CHANGE_RUN = SessionKeys(state.CHANGE_RESULT, state.CHANGE_REQUEST, state.CHANGE_ERROR)
#: Name of the from-to layer in the maps' layer switchers.
CHANGE_LAYER = "Change (from → to)"
#: The codes the change layer shows (the class changed).
CHANGED_CODES = (1, 2, 3, 5, 6, 7)
#: First day of Sentinel-2 surface reflectance in Earth Engine.
FIRST_DAY = date(2017, 3, 28)


@dataclass
class ChangePanel:
    """What the inputs decided: the request to run, or the sentence saying why not."""

    request: ChangeRequest | None = None
    problem: str | None = None
    summary: str = ""
    draw: bool = False


def mode_choice() -> str:
    """The radio choosing uploads or Earth Engine (its value lives in the settings model)."""
    return state.bind(st.radio, "change_source", "**1. The two dates**", options=list(MODES),
                      format_func=MODES.get, horizontal=True)


# ---------------------------------------------------------------------------- uploads


def _date_upload(which: str, other_sha: str | None) -> tuple[RunRequest | None, str | None]:
    """One date's uploader, its band form and DN offset box; ``(date, problem)``."""
    key = state.widget_key(f"change_{which}")
    keep_upload(st.file_uploader(f"{LABELS[which]}: Sentinel-2 GeoTIFF, or one file per band",
                                 type=["tif", "tiff", "jp2", "xml"], key=key,
                                 accept_multiple_files=True, help=UPLOAD_HELP), key, KEPT[which])
    kept = st.session_state.get(KEPT[which])
    if not kept:
        return None, f"Upload the {LABELS[which].lower()} image."
    kept_image(kept, KEPT[which], LABELS[which], f"change_{which}_remove")
    if kept["sha256"] == other_sha:
        st.error("This is the same image as before: upload an image of a later date.")
        return None, "Upload two different dates."
    probe = SourcePanel()
    info = inspect_upload(kept, probe)
    if info is not None and info.pixels > MAX_CHANGE_PIXELS:
        side = math.isqrt(MAX_CHANGE_PIXELS)
        st.error(f"This image has {info.pixels:,} pixels; two dates are compared up to "
                 f"{side:,} × {side:,} pixels. Crop both images to a smaller area.")
        probe.problem = "The images are too large to compare here."
    if info is None or probe.problem:
        return None, probe.problem
    order = None if info.named else band_form(kept, info, probe)
    if probe.problem:
        return None, probe.problem
    offset = offset_box(kept, info)
    return RunRequest(kind="upload", name=kept["name"], path=kept["path"],
                      sha256=kept["sha256"], band_order=order,
                      dn_offset=L2A_OFFSET if offset else 0.0), None


def upload_inputs() -> ChangePanel:
    """Two uploads side by side (each a GeoTIFF or the band files of one image)."""
    panel = ChangePanel()
    dates, problems = [], []
    for column, which in zip(st.columns(2), WHICH):
        with column:  # AFTER is checked against BEFORE's upload, usable or not
            other = (st.session_state.get(KEPT["before"]) or {}).get("sha256") if dates else None
            date_source, problem = _date_upload(which, other)
            dates.append(date_source)
            problems.append(problem)
    panel.problem = next((p for p in problems if p), None)
    if panel.problem is None:
        panel.request = ChangeRequest(dates[0], dates[1])
        panel.summary = as_text(f"Compare will use: {dates[0].name} (before) and "
                                f"{dates[1].name} (after).")
    return panel


# ------------------------------------------------------------------------ Earth Engine


def _date_ranges() -> tuple:
    """The two composites' date ranges and the cloud threshold; ``(before, after, cloud)``."""
    c1, c2, c3 = st.columns(3)
    kwargs = {"min_value": FIRST_DAY, "max_value": date.today(),
              "help": "The median of the clear observations in this range is used; a whole "
                      "year evens out the seasons."}
    with c1:
        before = state.bind(st.date_input, "change_before", "Before: dates of the composite",
                            **kwargs)
    with c2:
        after = state.bind(st.date_input, "change_after", "After: dates of the composite",
                           **kwargs)
    with c3:
        cloud = state.bind(st.slider, "cloud", "Cloud masking: keep pixels at least this "
                           "likely to be clear", min_value=0.0, max_value=1.0, step=0.05,
                           help="Cloud Score+ clear probability (cs_cdf), for both dates.")
    return before, after, cloud


def _ranges_problem(before, after) -> str | None:
    """Why two date ranges cannot be compared, in one sentence (``None``: they can)."""
    for label, dates in (("before", before), ("after", after)):
        if not isinstance(dates, tuple) or len(dates) != 2:
            return f"Choose a start and an end date for {label}."
    if before[1] >= after[0]:
        return (f"The before dates must end before the after dates start (before ends "
                f"{before[1]:%d %b %Y}, after starts {after[0]:%d %b %Y}).")
    return None


def _ee_date(dates, aoi: dict, cloud: float) -> RunRequest:
    """The Earth Engine request of one date range (inclusive) for the area."""
    end = date.fromordinal(dates[1].toordinal() + 1)  # the request's end is excluded
    return RunRequest(kind="earthengine", name=f"{dates[0]:%Y-%m-%d}_{dates[1]:%Y-%m-%d}",
                      aoi=json.dumps(aoi, sort_keys=True), start=dates[0].isoformat(),
                      end=end.isoformat(), cloud_threshold=float(cloud))


def earthengine_inputs() -> ChangePanel:
    """Two date ranges for one area drawn on the map (or uploaded as GeoJSON)."""
    panel = ChangePanel(draw=True)
    connected = connection_box()
    before, after, cloud = _date_ranges()
    aoi_upload()
    st.caption("Draw a rectangle or polygon with the tools on the left of the map. Both "
               "dates are fetched for this area; the time below is for one date.")
    aoi = state.get(state.AOI)
    summary = aoi_metrics(aoi)
    problem = _ranges_problem(before, after)
    if aoi is None:
        panel.problem = "Draw an area on the map or upload a GeoJSON file."
    elif summary["error"]:
        st.error(as_text(summary["error"]))
        panel.problem = "Choose a smaller or valid area."
    elif problem:
        panel.problem = problem
    else:
        panel.request = ChangeRequest(_ee_date(before, aoi, cloud), _ee_date(after, aoi, cloud))
        panel.summary = (f"Compare will use: the drawn area, {before[0]:%d %b %Y} to "
                         f"{before[1]:%d %b %Y} against {after[0]:%d %b %Y} to "
                         f"{after[1]:%d %b %Y}, cloud masking {float(cloud):.2f}.")
        if not connected:
            panel.problem = "Earth Engine is not connected (see above)."
    if aoi is not None:
        clear_area_button()
    return panel


#: Mode -> the inputs it draws.
INPUTS = {"upload": upload_inputs, "earthengine": earthengine_inputs}


def input_map(panel: ChangePanel) -> None:
    """The map to draw the area on (Earth Engine), with the area drawn so far."""
    aoi = state.get(state.AOI)
    bounds, centre, zoom = earth_engine_view(None, aoi)
    fmap, groups, control = build_dynamic_map(overlays=[], opacity=0.7, draw=True,
                                              height=440, bounds=bounds)
    if aoi is not None:  # a group: a new area moves into the map without reloading it
        groups.append(aoi_group(aoi))
    epoch = st.session_state.get("urbanseg_map_epoch", 0)
    out = render_map(fmap, key=f"map_change_{epoch}", height=440,
                     returned_objects=["all_drawings"], groups=groups, layer_control=control,
                     center=centre, zoom=zoom)
    if out and out.get("all_drawings"):
        keep_drawing(out["all_drawings"])


# ------------------------------------------------------------------------------- Run


def run_section(panel: ChangePanel, ref):
    """The Compare button, its state and what it will use; the latest change result (new when
    it was pressed), or ``None``."""
    st.markdown("**2. Compare**")
    if run_button("Compare the two dates", "w_change_run", panel, ref,
                  "Map both dates with the model and find what changed."):
        return run_request(panel.request, ref, cached_change, CHANGE_RUN) or state.get(
            state.CHANGE_RESULT)
    if state.get(state.CHANGE_ERROR):
        st.error(as_text(state.get(state.CHANGE_ERROR)))
    return state.get(state.CHANGE_RESULT)


# ---------------------------------------------------------------------------- result


def headline(result, request: ChangeRequest | None, ref) -> None:
    """What was compared, the three headline areas and the notes, in plain words."""
    if request is None or ref is None or result.run_id != request.key(ref.sha256):
        st.info("This result is for earlier inputs: press **Compare the two dates** to "
                "compare the ones above.")
    before, after = result.dates
    st.caption(as_text(f"Before: {before['name']} · after: {after['name']} · model "
                       f"{result.model['name']} on both · {result.seconds:.1f} s"))
    s = result.stats
    m1, m2, m3 = st.columns(3)
    m1.metric("Area compared", f"{s.overlap_km2:,.2f} km²",
              help="Where both dates have data.")
    share = "" if math.isnan(s.changed_share) else f" ({100 * s.changed_share:.2f} %)"
    m2.metric("Class changed", f"{s.changed_km2:,.3f} km²{share}",
              help="Where the class differs between the dates; the share is of the area "
                   "compared.")
    m3.metric("New built-up area", f"{result.new_built_up_km2:,.3f} km²",
              help="Other before, non-residential or residential after.")
    for note in result.notes:
        st.caption(as_text(note))


def change_overlay(result, shown: bool = False) -> Overlay:
    """The from-to layer (only the pixels whose class changed), with its legend."""
    items = tuple((result.stats.pairs[c].name, PAIR_COLOURS[c], "fill") for c in CHANGED_CODES)
    return Overlay(CHANGE_LAYER, result.change_layer, items, shown=shown, opacity=0.9)


def _side(result, which: str, opacity: float = 0.8) -> MapSide:
    classes = Overlay(f"Classes ({which})", getattr(result, f"{which}_layer"),
                      tuple(class_items(result.class_names, result.colours)), opacity=opacity)
    return MapSide(f"{LABELS[which]}: {result.dates[WHICH.index(which)]['name']}",
                   [classes, change_overlay(result)], getattr(result, f"{which}_true_colour"))


def maps(result) -> None:
    """Before (left) and after (right) in two linked maps, each date's classes over its
    image, the from-to layer switchable on both; pictures without a CRS."""
    if result.change_layer is None:
        st.warning("The images have no map coordinates, so they cannot be placed on a map; "
                   "the class maps are shown as pictures.")
        for column, which in zip(st.columns(3), (*WHICH, "change")):
            column.image(result.picture_png(which), caption=which.capitalize(),
                         width="stretch")
        return
    render_map(compare_map(_side(result, "before"), _side(result, "after"),
                           outline=result.outline), key="map_change_compare", height=460)
    st.caption(f"The two maps move together. Tick “{CHANGE_LAYER}” in a map's layer switcher "
               "(the layers icon, top right) to see where the class changed, coloured by "
               "from-to pair; untick the classes to see the image.")


def change_frame(result) -> pd.DataFrame:
    """The from-to table: from, to, km², % of the area compared, pixels (nine rows)."""
    return pd.DataFrame([{"From (before)": p.before, "To (after)": p.after,
                          "Area (km²)": round(p.area_km2, 4),
                          "Share of the area compared (%)": round(100 * p.share_of_overlap, 3),
                          "Pixels": p.pixels} for p in result.stats.pairs])


def table(result) -> None:
    """The from-to table and the net change of each class in one sentence."""
    st.dataframe(change_frame(result), hide_index=True, width="stretch")
    st.caption(as_text("Net change (after − before): " + ", ".join(
        f"{name} {value:+,.3f} km²" for name, value in result.stats.net_change_km2.items())
        + ". Rows where from and to are the same class did not change."))


def class_chart_spec(result) -> tuple[list[dict], dict]:
    """Each class's area at both dates as a grouped bar chart (Vega-Lite): ``(data, spec)``;
    the classes in their colours, the dates side by side."""
    axis = {"labelAngle": 0, "labelFontSize": 13, "titleFontSize": 13}
    spec = {
        "height": 260, "mark": "bar",
        "encoding": {
            "x": {"field": "class", "type": "nominal", "sort": result.class_names,
                  "title": "Class", "axis": axis},
            "xOffset": {"field": "date", "sort": list(WHICH)},
            "y": {"field": "area_km2", "type": "quantitative", "title": "Area (km²)",
                  "axis": axis},
            "color": {"field": "class", "type": "nominal", "legend": None,
                      "scale": {"domain": result.class_names, "range": result.colours}},
            "opacity": {"field": "date", "type": "nominal", "sort": list(WHICH),
                        "scale": {"range": [0.45, 1.0]}, "title": "Date"},
            "tooltip": [{"field": f} for f in ("class", "date", "area_km2")]},
    }
    return result.class_area_rows(), spec


def class_chart(result) -> None:
    """Draw :func:`class_chart_spec` (Vega-Lite through Streamlit)."""
    data, spec = class_chart_spec(result)
    st.vega_lite_chart(pd.DataFrame(data), spec, width="stretch")
    st.caption("Light bars: before; dark bars: after. Areas within the area compared.")


def downloads(result) -> None:
    """The change downloads, each made when its button is clicked."""
    download_row(result, (
        ("Change map (GeoTIFF)", "change-tif", "w_dl_change_tif"),
        ("From-to table (CSV)", "change-csv", "w_dl_change_csv"),
        ("New built-up areas (GeoJSON)", "new-built-geojson", "w_dl_change_geojson"),
        ("Statistics and method (JSON)", "change-json", "w_dl_change_json")))
    st.caption("The GeoTIFF holds one code per pixel, 3 × before + after (0 other, "
               "1 non-residential, 2 residential; 255 no data), with the pair names in its "
               "tags. The GeoJSON holds the areas that became built up as polygons in "
               "longitude/latitude (EPSG:4326).")
