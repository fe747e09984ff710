"""Sections of the pages, as functions: the pages in ``pages/`` only lay these out.

Map & run: :func:`source_choice`, :func:`model_ref_or_notice`, :func:`run_column`,
:func:`run_map`, :func:`result_summary`. Results: :func:`headline`, :func:`results_map`,
:func:`side_by_side`, :func:`agreement`, :func:`downloads`. Model: :func:`card_summary`,
:func:`weights_form`. Nothing here imports PyTorch: the model loads in the background
(:mod:`.resources`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from ..errors import UrbansegError
from ..evaluation.disagreement import shares as disagreement_shares
from ..evaluation.metrics import macro_builtup_present
from ..model.card import ModelCard
from ..runs.request import RunRequest
from ..runs.uploads import stage_weights
from . import earthengine, resources, state
from .controller import current_ref, run_request
from .map import (FOOTPRINT, FOOTPRINT_LEGEND, aoi_group, build_dynamic_map, compare_map,
                  view_for)
from .messages import area_method, as_text, codes_words
from .overlays import DIFFERENCES, UNSURE, comparison, prediction_overlay, result_overlays
from .panels import PANELS, REFERENCE, SourcePanel, value_key
from .widgets import (card_metrics_frame, cities_without_other, confusion_chart,
                      cross_city_frame, download_button, download_row, flat_text,
                      layer_legend, metrics_frame, render_map, show_error)

if TYPE_CHECKING:  # runs.result is for annotations only here
    from ..runs.result import RunResult

# ------------------------------------------------------------------------------ Map & run


def source_choice() -> str:
    """The imagery radio (its value lives in the settings model); the chosen source key of
    :data:`PANELS`."""
    return state.bind(st.radio, "source", "**1. Imagery**", options=list(PANELS),
                      format_func=lambda k: PANELS[k][0], horizontal=True)


def model_ref_or_notice(notice: bool = True) -> resources.ModelRef | None:
    """The session's model as the page knows it (its weights load in the background), or
    ``None`` after saying why (and, with ``notice``, where to load another)."""
    try:
        return current_ref()
    except UrbansegError as exc:
        show_error(exc)
        if notice:
            st.info("Load a model on the **Model** page.")
        return None


def model_line(ref: resources.ModelRef) -> None:
    """One caption: the model's name and where it runs, or that it is still loading (then
    the line checks every second and the page reruns once the model is ready)."""
    if not resources.model_ready(ref):
        _loading_line(ref)
        return
    try:
        where = "ready, on " + resources.device_summary(resources.get_model(ref))
    except UrbansegError:
        where = "could not be loaded (see the Model page)"
    st.caption(as_text(f"Model {ref.card.name} {ref.card.version}: {where}."))


@st.fragment(run_every=1.0)
def _loading_line(ref: resources.ModelRef) -> None:
    if resources.model_ready(ref):
        st.rerun()  # the whole page, now with the loaded model's line
    st.caption(as_text(f"Model {ref.card.name}: loading in the background; Run waits for it."))


def run_button(label: str, key: str, panel, ref, help_text: str) -> bool:
    """A primary button that runs the panel's request (a :class:`~.panels.SourcePanel`, or
    any object with ``request``, ``problem`` and ``summary``), off while there is a problem,
    which is said under it with what it will use; whether it was pressed and can run."""
    request, problem = panel.request, panel.problem
    clicked = st.button(label, type="primary", key=key, width="stretch",
                        disabled=request is None or problem is not None or ref is None,
                        help=problem or help_text)
    if problem:
        st.caption(problem)
    if panel.summary:
        st.caption(panel.summary)
    return clicked and request is not None and problem is None


def run_column(panel: SourcePanel, ref: resources.ModelRef | None):
    """The Run button with its state and what it will use; the latest result (new when Run
    was pressed)."""
    st.markdown("**3. Run**")
    clicked = run_button("Run", "w_run", panel, ref, "Segment the imagery with the model.")
    if ref is not None:
        model_line(ref)
    if clicked:
        return run_request(panel.request, ref) or state.get(state.RESULT)
    if state.get(state.RUN_ERROR):
        st.error(as_text(state.get(state.RUN_ERROR)))
    return state.get(state.RESULT)


def is_current(result, request: RunRequest | None, ref: resources.ModelRef | None) -> bool:
    """Whether the result answers the request the panel shows, with this model."""
    return (result is not None and request is not None and ref is not None
            and result.run_id == request.key(ref.sha256))


def earth_engine_view(result, aoi: dict | None):
    """Where an Earth Engine map opens: where the user last worked (the result, else the
    sample scene), then moved to the AOI without a reload; ``(bounds, centre, zoom)``."""
    last = result.true_colour if result is not None and result.true_colour else None
    bounds = (last or resources.sample_view().true_colour).bounds
    centre, zoom = view_for(aoi) if aoi is not None else (None, None)
    return bounds, centre, zoom


def run_map(source: str, panel: SourcePanel, result: RunResult | None, ref,
            current: bool) -> None:
    """The Map & run page's map: the imagery, the current prediction, the AOI and drawing.

    The prediction is a feature group swapped in place, so Run does not reload the map; the
    legend lists what is on the map (the prediction, the Earth Engine reference). ``ref`` is
    the session's model (unused by the map itself: its class names travel with the result).
    """
    st.markdown("**2. Check it on the map**")
    tc, outline = panel.map_view if panel.map_view else (None, None)
    overlays = []
    if current and source != "sample":  # the sample's image is on the map already
        tc, outline = result.true_colour or tc, result.outline or outline
    if current and result.prediction_layer is not None:
        overlays.append(prediction_overlay(result))
    aoi = state.get(state.AOI) if source == "earthengine" else None
    bounds = centre = zoom = None
    if source == "earthengine":
        bounds, centre, zoom = earth_engine_view(result, aoi)
    fmap, groups, control = build_dynamic_map(
        true_colour=tc, outline=outline, overlays=overlays, opacity=state.settings().opacity,
        draw=panel.draw, height=480, bounds=bounds, tiles=panel.ee_tiles)
    if aoi is not None:
        groups.append(aoi_group(aoi))
    epoch = st.session_state.get("urbanseg_map_epoch", 0)
    out = render_map(fmap, key=f"map_run_{source}_{epoch}", height=480,
                     returned_objects=["all_drawings"] if panel.draw else [], groups=groups,
                     layer_control=control, center=centre, zoom=zoom)
    if panel.draw and out and out.get("all_drawings"):
        keep_drawing(out["all_drawings"])


def keep_drawing(drawings) -> None:
    """Store the last drawn polygon as the AOI (and rerun when it changed)."""
    try:
        drawn = earthengine.parse_drawing(drawings)
    except UrbansegError as exc:
        show_error(exc)
        return
    if drawn != state.get(state.AOI):
        state.put(state.AOI, drawn)
        st.rerun()


def result_summary(result) -> None:
    """Built-up share, the built-up classes' areas and the mask download."""
    st.markdown("**4. Result**")
    st.metric("Built-up share", f"{100 * result.stats.built_up_share:.1f} %")
    for c in result.stats.classes[1:]:
        st.caption(as_text(f"{c.name}: {c.area_km2:.2f} km² ({100 * c.share_of_valid:.1f} %)"))
    download_button(result, "tif-index", "5. Download the mask (GeoTIFF)", key="w_dl_tif_run",
                    width="stretch")
    st.page_link("pages/2_Results.py", label="All results and downloads →")


# -------------------------------------------------------------------------------- Results


def headline(result) -> None:
    """Source, model, size and the three headline figures, in plain words."""
    h, w = result.classes.shape
    st.caption(as_text(f"Source: {result.source.get('name')} · model {result.model['name']} "
                       f"· {w:,} × {h:,} pixels · model time {result.seconds:.1f} s"))
    for note in result.notes:
        st.caption(as_text(note))
    share = result.stats.built_up_share
    m1, m2, m3 = st.columns(3)
    m1.metric("Built-up share", f"{100 * share:.1f} %" if not math.isnan(share) else "–",
              help="(non-residential + residential) / area with data")
    m2.metric("Area with data", f"{result.stats.valid_km2:,.2f} km²")
    unsure = getattr(result, "unsure", None)
    if unsure is not None and unsure.built_up_km2 > 0:
        st.caption(f"The model is unsure whether {100 * unsure.share_of_built_up:.0f} % of the "
                   f"built-up area ({unsure.unsure_km2:,.2f} km²) is residential or "
                   f"non-residential (its split confidence is below "
                   f"{unsure.threshold_pct} %). Tick “{UNSURE}” in the map's layer switcher "
                   "to see where.")
    if result.metrics:
        macro = macro_builtup_present(np.asarray(result.metrics["confusion_matrix"]))
        m3.metric("Built-up classes agree (Dice)",
                  f"{macro:.3f}" if not math.isnan(macro) else "–",
                  help="Mean Sørensen-Dice of residential and non-residential (the classes the "
                       "reference labels): 1 = identical, 0 = no overlap. The weighted Dice "
                       "below counts every pixel, mostly “other”, and so stays high even "
                       "when the built-up classes disagree.")


def results_legend(result: RunResult) -> None:
    """Beside the Results map: the legend of each of its layers (the map's own legend lists
    only the layers ticked on) and how to show or hide them."""
    layer_legend(result_overlays(result),
                 [(FOOTPRINT, FOOTPRINT_LEGEND)] if result.outline is not None else [])
    st.caption("Use the layer switcher (the layers icon, top right of the map) to change the "
               "background and to show or hide the true-colour image, the prediction" + (
                   ", the reference (drawn as outlines over the filled prediction, so the two "
                   "maps' colours never mix) and where they differ."
                   if result.reference is not None else " and where the model is unsure."))


def results_map(result: RunResult) -> None:
    """The Results map: true colour, the prediction (filled, opacity in place), the reference
    as outlines over it (off at first, so two maps never mix colours), where they differ and
    the model's doubts (ticked off at first)."""
    if result.prediction_layer is None:
        st.warning("The input has no map coordinates, so it cannot be placed on a map; the "
                   "class maps are shown below.")
        return
    # overlays following the opacity are feature groups updated in place: a new opacity
    # keeps zoom and position
    fmap, groups, control = build_dynamic_map(
        true_colour=result.true_colour, outline=result.outline,
        overlays=result_overlays(result), opacity=state.settings().opacity, height=460)
    render_map(fmap, key="map_results", height=460, groups=groups, layer_control=control)


def _pictures(result: RunResult) -> None:
    """Two pictures of one size (no CRS: no map): the prediction and the reference, or the
    true-colour image and the prediction when there is no reference."""
    left, right = st.columns(2)
    if result.reference is not None:
        left.image(result.classes_png(), caption="Prediction", width="stretch")
        right.image(result.classes_png(reference=True),
                    caption=as_text(f"Reference ({result.reference_codes})"), width="stretch")
        return
    picture = result.picture_png()
    if picture is not None:
        left.image(picture, caption="True colour (B4, B3, B2)", width="stretch")
    right.image(result.classes_png(), caption="Prediction", width="stretch")


def side_by_side(result: RunResult) -> None:
    """The prediction and the reference in two linked maps (two pictures of one size when the
    image has no CRS, or the true colour and the prediction without a reference), and the
    share of each kind of difference."""
    if result.reference is None or result.reference_layer is None:
        _pictures(result)
        if result.reference is None:
            st.caption("To compare with a reference map, upload it next to your image on the "
                       "Map & run page (any codes: you say which value is which class).")
            return
    else:
        render_map(compare_map(*comparison(result), outline=result.outline),
                   key="map_compare", height=420)
        st.caption(as_text(f"The two maps move together. Left: the prediction; right: the "
                           f"reference ({codes_words(result.reference_codes)}). Tick "
                           f"“{DIFFERENCES}” in the right map's layer switcher to see where "
                           "they differ."))
    if result.metrics and result.metrics.get("confusion_matrix"):
        parts = [f"{name} {100 * share:.1f} %" for name, share
                 in disagreement_shares(result.metrics["confusion_matrix"]).items()]
        st.caption("Share of the area with data in both maps where they differ: "
                   + ", ".join(parts) + ".")


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _pct(share) -> str:
    """A 0-1 share as a percentage with one decimal, or a dash."""
    return "–" if share is None or math.isnan(share) else f"{100 * share:.1f} %"


def _compared_reference(result) -> dict | None:
    """The kept reference upload when it is the one this result was compared with."""
    ref = st.session_state.get(REFERENCE)
    used = result.source.get("reference") or {}
    return ref if ref and ref["sha256"] == used.get("sha256") else None


def table_changed(result) -> bool:
    """True when the reference's value table on Map & run (the class each value is compared
    with) is no longer the one this result's comparison used."""
    used = (result.source.get("reference") or {}).get("values")
    ref = _compared_reference(result)
    if not used or ref is None:
        return False
    table = state.settings().ref_values
    return any(table.get(value_key(ref, value), cls) != cls for value, cls in used.items())


def swap_warning(result) -> None:
    """A warning when the reference's residential and non-residential codes look swapped,
    with a button that swaps them in the reference's value table; once the table has
    changed, a note that the figures are from the earlier table instead."""
    if table_changed(result):
        st.info("The reference's value table has changed since this comparison: the figures "
                "below use the earlier one. Press Run on the Map & run page to compare "
                "again.")
        return
    hint = (result.metrics or {}).get("swapped_builtup")
    if not hint:
        return
    st.warning(f"The reference's residential and non-residential classes look swapped: the "
               f"built-up classes agree with Dice {hint['dice_macro_builtup']:.2f} as read, "
               f"and {hint['if_swapped']:.2f} with the two exchanged. Check which value "
               "means what in the reference's value table.")
    ref = _compared_reference(result)
    if ref and st.button("Exchange residential and non-residential in the reference",
                         key=state.widget_key("swap")):
        table = state.settings().ref_values
        for key in (value_key(ref, value) for value, _ in ref["values"]):
            if table.get(key) in (1, 2):
                table[key] = 3 - table[key]
        state.flash("info", "The reference's two built-up classes are exchanged: press "
                            "Run on the Map & run page to compare again.")
        st.rerun()


def agreement(result) -> None:
    """Dice figures, the per-class table and the confusion matrix against the reference."""
    mt = result.metrics
    swap_warning(result)
    parent = (result.model or {}).get("adapted_from")
    if parent:
        st.warning(as_text(
            f"This run used a model adapted from {parent.get('name', 'the bundled model')} to "
            "an area. If this reference is the one it was adapted on, the figures below are "
            "measured mostly on pixels it learned from and overstate its accuracy: the fair "
            "figure is its score on the block held back from adaptation (Model page, Models "
            "of this session)."))
    if result.trained_here and not parent:
        st.warning(as_text(
            f"The model was trained on this area ({', '.join(result.trained_here)}): the "
            "figures below are measured on pixels it learned from and overstate how well it "
            "does elsewhere. Its scores in cities it was not trained on are on the Model "
            "page."))
    a, b, c = st.columns(3)
    a.metric("Dice, weighted", _fmt(mt.get("dice_weighted")))
    b.metric("Dice, built-up classes (mean)", _fmt(mt.get("dice_macro_builtup")))
    c.metric("Dice, built-up vs other", _fmt(mt.get("dice_binary_builtup")))
    # a static table: the browser's interactive grid writes "None" in undefined cells
    st.table(metrics_frame(mt).hide(axis="index"))
    no_other = not (mt.get("per_class", {}).get(result.class_names[0]) or {}).get("support_px")
    unscored = mt.get("unscored_reference_px") or 0
    st.caption("Empty cells are undefined (recall of a class the reference does not have; "
               "every score of a class absent from both maps). Built-up share where both maps "
               f"have data: predicted {_pct(mt.get('built_up_share_pred'))}, reference "
               f"{_pct(mt.get('built_up_share_ref'))}." + (
                   " The reference labels no \"other\" pixels, so \"built-up vs other\" only "
                   "says how much of its built-up area the model calls built-up."
                   if no_other else "") + (
                   f" {unscored:,} reference pixels lie where the image has no data and are "
                   "not scored." if unscored else ""))
    confusion_chart(mt, result.class_names)
    st.caption("Confusion matrix: rows are the reference class, columns the predicted class; "
               "each cell is the share of the reference class's pixels (a class the reference "
               "does not have: an empty row).")


def downloads(result) -> None:
    """The download buttons (mask codes chosen with a radio); each file is made when its
    button is clicked, and clicking never reloads the page."""
    codes = state.bind(st.radio, "codes", "Codes in the mask GeoTIFF", options=["index", "esm"],
                       horizontal=True, format_func={
                           "index": "0 other, 1 non-residential, 2 residential (255 no data)",
                           "esm": "ESM: 1 other, 250 non-residential, 255 residential (0 no "
                                  "data)"}.get)
    with_confidence = result.split_confidence is not None and st.checkbox(
        "Add the split confidence as a second band (0-100 %: how sure the model is of "
        "residential vs non-residential)", key="w_dl_confidence")
    tif = f"tif-{codes}-confidence" if with_confidence else f"tif-{codes}"
    download_row(result, (("Mask (GeoTIFF)", tif, "w_dl_tif"),
                          ("Polygons (GeoJSON)", "geojson", "w_dl_geojson"),
                          ("Picture (PNG)", "figure", "w_dl_figure"),
                          ("Overlay (PNG)", "png", "w_dl_png"),
                          ("Statistics (CSV)", "csv", "w_dl_csv"),
                          ("Run manifest (JSON)", "manifest", "w_dl_manifest")))


def area_caption(result) -> None:
    """How the areas were measured, and the area without data, in plain words."""
    nodata = result.stats.nodata_km2
    st.caption(f"{area_method(result.stats.pixel_area_method)} Area without data: "
               + ("less than 0.01" if 0 < nodata < 0.005 else f"{nodata:,.2f}") + " km².")


# ---------------------------------------------------------------------------------- Model


def classes_table(card: ModelCard) -> None:
    """The card's classes with a colour swatch each (a table that is never cut)."""
    frame = pd.DataFrame([{"Colour": "", "Class": c.name, "Value in the mask": c.index,
                           "ESM code": c.esm_code, "Meaning": c.description}
                          for c in card.classes])
    colours = [c.colour for c in card.classes]
    styled = frame.style.apply(
        lambda col: [f"background-color: {colour}" for colour in colours], subset=["Colour"])
    st.table(styled.hide(axis="index"))


def card_inputs(card: ModelCard) -> None:
    """Classes, inputs, tiles and architecture of a card."""
    st.markdown("**Classes**")
    classes_table(card)
    st.markdown("**Inputs**")
    st.write(as_text("Sentinel-2 bands " + ", ".join(card.bands) + f" ({card.reflectance}), "
                     "plus the indices " + ", ".join(
                         f"{k} ({v[0]}, {v[1]})" for k, v in card.indices.items())
                     + f"; {card.pixel_size_m:g} m pixels."))
    st.write(as_text(f"Trained on tiles of {card.tile_size} px; large images are cut into "
                     "overlapping tiles that are blended (each run's manifest records the "
                     "tile size it used). " + (
                         "Inputs are scaled with fixed statistics of the training data, so "
                         "the same pixel gets the same answer in any tile."
                         if card.normalisation.method == "standardize" else
                         "Inputs are scaled window by window, as the original project did.")))
    with st.expander("Technical detail of the network"):
        st.text(f"UNet, base width {card.architecture.base_width}, "
                f"{card.architecture.n_channels} input channels, {card.architecture.n_classes} "
                f"classes; normalisation: {card.normalisation.method}; card tile "
                f"{card.tile_size} px, overlap {card.overlap} px.")


#: Training-data fields for programs, not people (the area's extent is used to warn when a
#: run overlaps it; ``area`` repeats the name).
MACHINE_KEYS = ("bounds_wgs84", "area")
#: Column titles of the training-data table (other keys: capitalised, spaces for "_").
TRAINING_COLUMNS = {"name": "Data", "use": "How it was used", "reflectance": "Reflectance",
                    "pixel_size_m": "Pixel size"}


def card_provenance(card: ModelCard) -> None:
    """Training data, measured metrics, limitations and licence of a card."""
    st.markdown("**Training data**")
    if card.training_data:
        frame = pd.DataFrame([{TRAINING_COLUMNS.get(k, k.replace("_", " ").capitalize()):
                               flat_text(v) for k, v in item.items() if k not in MACHINE_KEYS}
                              for item in card.training_data])
        st.table(frame.fillna("–").style.hide(axis="index"))
    else:
        st.caption("Not recorded in the card.")
    st.markdown("**Measured metrics**")
    table = card_metrics_frame(card.metrics) if card.metrics else pd.DataFrame()
    if len(table):
        st.table(table.style.format(precision=3, na_rep="–").hide(axis="index"))
    else:
        st.caption("Not recorded in the card.")
    tables = list((card.metrics or {}).get("cross_city") or [])
    cross_city = cross_city_frame({"cross_city": tables[:1]})
    if len(cross_city):
        st.markdown("**In cities it was not trained on**")
        st.caption(as_text(tables[0].get("label") or ""))
        st.table(cross_city.style.format(precision=3, na_rep="–").hide(axis="index"))
        no_other = cities_without_other(tables[:1])
        st.caption("Each row: a model trained with this model's recipe but without that "
                   "city, scored on it (Dice 1 = identical to the city's labels, 0 = no "
                   "overlap). This is what to expect in a city new to the model; a dash means "
                   "the city's labels have no such class." + (
                       f" {' and '.join(no_other)}: the labels have no \"other\", so "
                       "\"built-up vs other\" only says that the labelled land was called "
                       "built-up (1.000 when all of it was)." if no_other else ""))
    others = cross_city_frame({"cross_city": tables[1:]})
    if len(others):
        with st.expander("The same cities with other models and recipes (for comparison)"):
            st.caption("Each mean is over the cities that run left out, which differ between "
                       "runs: compare them city by city.")
            st.table(others.style.format(precision=3, na_rep="–").hide(axis="index"))
    st.markdown("**Known limitations**")
    for item in card.limitations or ["Not recorded in the card."]:
        st.markdown("- " + as_text(item))
    st.caption(as_text(f"Licence: {card.licence}"))


def card_summary(ref: resources.ModelRef) -> None:
    """The model card of the session's model."""
    card = ref.card
    st.subheader(as_text(f"{card.name} (version {card.version})"))
    if card.description:
        st.write(as_text(card.description))
    model_line(ref)
    card_inputs(card)
    card_provenance(card)  # full width: its tables are wide
    with st.expander("Technical detail"):
        engine = ""
        if resources.model_ready(ref):
            try:
                engine = "\n" + resources.engine_line(resources.get_model(ref))
            except UrbansegError:  # said in the model line above
                pass
        st.text(f"Weights file: {ref.weights.name}\nsha256: {ref.sha256}{engine}")


def use_weights(weights, card_file) -> None:
    """Check uploaded weights (and card) and make them the session's model."""
    if weights is None:
        st.error("Choose a weights file (.pt or .pth) first.")
        return
    try:
        path = stage_weights(weights.getvalue(), weights.name,
                             card_file.getvalue() if card_file is not None else None)
        ref = resources.model_ref(path)
        with st.spinner("Checking the weights..."):
            new = resources.get_model(ref)
    except UrbansegError as exc:
        show_error(exc)
        return
    state.put(state.MODEL_PATH, str(path))
    state.flash("success", as_text(f"Loaded {new.card.name} from {weights.name}: the weights "
                                   "fit the model. New runs use them."))
    st.rerun()


def weights_form() -> None:
    """Load other weights (trained with urbanseg, or the original final_model.pth)."""
    with st.form("w_model_form", clear_on_submit=False):
        weights = st.file_uploader("Weights (.pt or .pth)", type=["pt", "pth"],
                                   key="w_weights")
        card_file = st.file_uploader("Model card (.json), optional for final_model.pth",
                                     type=["json"], key="w_card")
        submitted = st.form_submit_button("Check and use these weights", type="primary")
    if submitted:
        use_weights(weights, card_file)
    if state.get(state.MODEL_PATH) and st.button("Go back to the bundled model",
                                                 key="w_model_reset"):
        state.put(state.MODEL_PATH, None)
        state.flash("info", "The bundled model is used again.")
        st.rerun()


def flash_messages() -> None:
    """Show the messages kept for this run (e.g. after loading weights)."""
    for kind, text in state.pop_flash():
        getattr(st, kind)(text)
