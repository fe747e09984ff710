"""Map & run: choose the imagery, see it on the map, run the model."""

import streamlit as st

from urbanseg_core.io import display as mapview
from urbanseg_core.app import earthengine, resources, state
from urbanseg_core.app.controller import current_model, prefetch_sample, run_request
from urbanseg_core.app.panels import earthengine_panel, sample_panel, upload_panel
from urbanseg_core.app.widgets import render_map, show_error
from urbanseg_core.errors import UrbansegError

SOURCES = {
    "sample": "Sample scene (west of Berlin, 16 Feb 2017)",
    "upload": "Upload a Sentinel-2 GeoTIFF",
    "earthengine": "Area from Earth Engine",
}
PANELS = {"sample": sample_panel, "upload": upload_panel, "earthengine": earthengine_panel}

state.init()
st.title("Map & run")
st.caption("1 Choose the imagery · 2 check it on the map · 3 press **Run** · "
           "4 look at the result · 5 download it.")

# ---------------------------------------------------------------- 1. source
if "w_source" not in st.session_state:
    st.session_state["w_source"] = state.get(state.SOURCE)
source = st.radio("**1. Imagery**", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                  key="w_source", on_change=state.keep, args=("w_source", state.SOURCE))

# Everything that depends on the source sits in one container, so the map below keeps its
# place in the page whatever is shown here (a moved map would reload).
with st.container():
    panel = PANELS[source]()
request, problem, map_view, draw = panel.request, panel.problem, panel.map_view, panel.draw

# ---------------------------------------------------------------- 2. map + 3. run
result = state.get(state.RESULT)
try:
    loaded = current_model()
except UrbansegError as exc:
    show_error(exc)
    st.info("Load a model on the **Model** page.")
    loaded = None

left, right = st.columns([3, 1])
with right:
    st.markdown("**3. Run**")
    run_clicked = st.button("Run", type="primary", key="w_run", width="stretch",
                            disabled=request is None or loaded is None,
                            help=problem or "Segment the imagery with the model.")
    if problem:
        st.caption(problem)
    if loaded is not None:
        st.caption(f"Model **{loaded.card.name}** · {resources.device_summary(loaded)}")
    if run_clicked and request is not None:
        result = run_request(request) or state.get(state.RESULT)
    elif state.get(state.RUN_ERROR):
        st.error(state.get(state.RUN_ERROR))

current = (result is not None and request is not None and loaded is not None
           and result.run_id == request.key(loaded.sha256))

with left:
    overlays = []
    tc, outline = map_view if map_view else (None, None)
    if current and source != "sample":  # the sample's image is on the map already
        tc, outline = result.true_colour or tc, result.outline or outline
    if current and result.prediction_layer is not None:
        overlays.append(("Prediction", result.prediction_layer, True))
    legend_html = None
    if loaded is not None:
        legend_html = mapview.legend_html(loaded.card.class_names, loaded.card.class_colours)
    # Earth Engine: the map opens where the user last worked (result, else the sample scene)
    # and stays; the AOI is a feature group and the view moves to it without a reload
    view_bounds = center = zoom = None
    aoi = state.get(state.AOI) if source == "earthengine" else None
    if source == "earthengine":
        last = result.true_colour if result is not None and result.true_colour else None
        view_bounds = (last or resources.sample_view().true_colour).bounds
        if aoi is not None:
            center, zoom = mapview.view_for(aoi)
    # the prediction is a feature group swapped in place: Run does not reload the map
    fmap, groups, control = mapview.build_dynamic_map(
        true_colour=tc, outline=outline, overlays=overlays, opacity=state.get(state.OPACITY),
        legend=legend_html, draw=draw, height=480, bounds=view_bounds, tiles=panel.ee_tiles)
    if aoi is not None:
        groups.append(mapview.aoi_group(aoi))
    epoch = st.session_state.get("urbanseg_map_epoch", 0)
    out = render_map(fmap, key=f"map_run_{source}_{epoch}", height=480,
                     returned_objects=["all_drawings"] if draw else [], groups=groups,
                     layer_control=control, center=center, zoom=zoom)
    if draw and out and out.get("all_drawings"):
        try:
            drawn = earthengine.parse_drawing(out["all_drawings"])
        except UrbansegError as exc:
            show_error(exc)
        else:
            if drawn != state.get(state.AOI):
                state.put(state.AOI, drawn)
                st.rerun()

with right:
    if current:
        st.markdown("**4. Result**")
        st.metric("Built-up share", f"{100 * result.stats.built_up_share:.1f} %")
        for c in result.stats.classes[1:]:
            st.caption(f"{c.name}: {c.area_km2:.2f} km² ({100 * c.share_of_valid:.1f} %)")
        from urbanseg_core.app.widgets import download_bytes

        st.download_button("5. Download the mask (GeoTIFF)",
                           download_bytes(result.run_id, "tif-index", result),
                           file_name=f"{result.stem}_mask.tif", mime="image/tiff",
                           key="w_dl_tif_run", width="stretch")
        st.page_link("pages/2_Results.py", label="All results and downloads →")

if source == "sample" and not current:
    prefetch_sample()  # the sample's answer is fixed: have it ready before Run is pressed
