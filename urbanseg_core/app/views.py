"""Sections of the pages, as functions: the pages in ``pages/`` only lay these out.

Map & run: :func:`source_choice`, :func:`model_or_notice`, :func:`run_column`,
:func:`run_map`, :func:`result_summary`. Results: :func:`results_map`,
:func:`side_by_side`, :func:`agreement`, :func:`downloads`. Model: :func:`card_summary`,
:func:`weights_form`.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from ..errors import UrbansegError
from ..evaluation.disagreement import shares as disagreement_shares
from ..model.card import ModelCard
from ..model.loading import LoadedModel
from ..runs.request import RunRequest
from ..runs.result import RunResult
from ..runs.uploads import stage_weights
from . import earthengine, resources, state
from .controller import current_model, run_request
from .map import aoi_group, build_dynamic_map, compare_map, view_for
from .overlays import DIFFERENCES, comparison, prediction_overlay, result_overlays
from .panels import PANELS, SourcePanel
from .widgets import (DOWNLOADS, card_metrics_frame, confusion_chart, download_bytes,
                      metrics_frame, render_map, show_error)

# ------------------------------------------------------------------------------ Map & run


def source_choice() -> str:
    """The imagery radio (kept across pages); the chosen source key of :data:`PANELS`."""
    if "w_source" not in st.session_state:
        st.session_state["w_source"] = state.get(state.SOURCE)
    return st.radio("**1. Imagery**", list(PANELS), format_func=lambda k: PANELS[k][0],
                    horizontal=True, key="w_source", on_change=state.keep,
                    args=("w_source", state.SOURCE))


def model_or_notice(notice: bool = True) -> LoadedModel | None:
    """The session's model, or ``None`` after saying why (and, with ``notice``, where to load
    another)."""
    try:
        return current_model()
    except UrbansegError as exc:
        show_error(exc)
        if notice:
            st.info("Load a model on the **Model** page.")
        return None


def run_column(panel: SourcePanel, loaded: LoadedModel | None) -> RunResult | None:
    """The Run button with its state; the latest result (new when Run was pressed)."""
    request, problem = panel.request, panel.problem
    st.markdown("**3. Run**")
    clicked = st.button("Run", type="primary", key="w_run", width="stretch",
                        disabled=request is None or loaded is None,
                        help=problem or "Segment the imagery with the model.")
    if problem:
        st.caption(problem)
    if loaded is not None:
        st.caption(f"Model **{loaded.card.name}** · {resources.device_summary(loaded)}")
    if clicked and request is not None:
        return run_request(request) or state.get(state.RESULT)
    if state.get(state.RUN_ERROR):
        st.error(state.get(state.RUN_ERROR))
    return state.get(state.RESULT)


def is_current(result: RunResult | None, request: RunRequest | None,
               loaded: LoadedModel | None) -> bool:
    """Whether the result answers the request the panel shows, with this model."""
    return (result is not None and request is not None and loaded is not None
            and result.run_id == request.key(loaded.sha256))


def _earth_engine_view(result: RunResult | None, aoi: dict | None):
    """Where an Earth Engine map opens: where the user last worked (the result, else the
    sample scene), then moved to the AOI without a reload; ``(bounds, centre, zoom)``."""
    last = result.true_colour if result is not None and result.true_colour else None
    bounds = (last or resources.sample_view().true_colour).bounds
    centre, zoom = view_for(aoi) if aoi is not None else (None, None)
    return bounds, centre, zoom


def run_map(source: str, panel: SourcePanel, result: RunResult | None, current: bool) -> None:
    """The Map & run page's map: the imagery, the current prediction, the AOI and drawing.

    The prediction is a feature group swapped in place, so Run does not reload the map; the
    legend lists what is on the map (the prediction, the Earth Engine reference).
    """
    tc, outline = panel.map_view if panel.map_view else (None, None)
    overlays = []
    if current and source != "sample":  # the sample's image is on the map already
        tc, outline = result.true_colour or tc, result.outline or outline
    if current and result.prediction_layer is not None:
        overlays.append(prediction_overlay(result))
    aoi = state.get(state.AOI) if source == "earthengine" else None
    bounds = centre = zoom = None
    if source == "earthengine":
        bounds, centre, zoom = _earth_engine_view(result, aoi)
    fmap, groups, control = build_dynamic_map(
        true_colour=tc, outline=outline, overlays=overlays, opacity=state.get(state.OPACITY),
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


def result_summary(result: RunResult) -> None:
    """Built-up share, the built-up classes' areas and the mask download."""
    st.markdown("**4. Result**")
    st.metric("Built-up share", f"{100 * result.stats.built_up_share:.1f} %")
    for c in result.stats.classes[1:]:
        st.caption(f"{c.name}: {c.area_km2:.2f} km² ({100 * c.share_of_valid:.1f} %)")
    st.download_button("5. Download the mask (GeoTIFF)",
                       download_bytes(result.run_id, "tif-index", result),
                       file_name=f"{result.stem}_mask.tif", mime="image/tiff",
                       key="w_dl_tif_run", width="stretch")
    st.page_link("pages/2_Results.py", label="All results and downloads →")


# -------------------------------------------------------------------------------- Results


def headline(result: RunResult) -> None:
    """Source, model, size and the three headline figures."""
    st.caption(f"Source: **{result.source.get('name')}** · model **{result.model['name']}** "
               f"(sha256 {result.model['sha256'][:12]}…) · {result.classes.shape[1]} × "
               f"{result.classes.shape[0]} px · model time {result.seconds:.1f} s")
    for note in result.notes:
        st.caption(note)
    share = result.stats.built_up_share
    m1, m2, m3 = st.columns(3)
    m1.metric("Built-up share", f"{100 * share:.1f} %" if not math.isnan(share) else "–",
              help="(non-residential + residential) / area with data")
    m2.metric("Area with data", f"{result.stats.valid_km2:,.2f} km²")
    if result.metrics:
        dw = result.metrics.get("dice_weighted")
        m3.metric("Dice (weighted) vs reference", f"{dw:.3f}" if dw is not None else "–",
                  help="Sørensen-Dice per class, weighted by reference pixels (as the "
                       "original project reported). 1 = identical.")


def results_map(result: RunResult) -> None:
    """The Results map: true colour, the prediction (filled, opacity in place), the reference
    as outlines over it, where they differ and the model's doubts (ticked off at first)."""
    if result.prediction_layer is None:
        st.warning("The input has no CRS, so it cannot be placed on a map; the class maps are "
                   "shown below.")
        return
    # overlays following the opacity are feature groups updated in place: a new opacity
    # keeps zoom and position
    fmap, groups, control = build_dynamic_map(
        true_colour=result.true_colour, outline=result.outline,
        overlays=result_overlays(result), opacity=state.get(state.OPACITY), height=460)
    render_map(fmap, key="map_results", height=460, groups=groups, layer_control=control)


def _class_images(result: RunResult) -> None:
    """The prediction and the reference as images, side by side (no CRS: no map)."""
    left, right = st.columns(2)
    left.image(result.classes_png(), caption="Prediction", width="stretch")
    right.image(result.classes_png(reference=True),
                caption=f"Reference ({result.reference_codes})", width="stretch")


def side_by_side(result: RunResult) -> None:
    """The prediction and the reference in two linked maps (images without a CRS), and the
    share of each kind of difference."""
    if result.reference is None:
        st.info("No reference for this run. Upload a reference mask with your GeoTIFF on "
                "the Map & run page to compare (ESM, GHSL, CORINE or 0/1/2 codes).")
        return
    if result.reference_layer is None:
        _class_images(result)
    else:
        render_map(compare_map(*comparison(result), outline=result.outline),
                   key="map_compare", height=420)
        st.caption(f"The two maps move together. Left: the prediction; right: the reference "
                   f"({result.reference_codes} codes). Tick “{DIFFERENCES}” in the right "
                   "map's layer switcher to see where they differ.")
    if result.metrics and result.metrics.get("confusion_matrix"):
        parts = [f"{name} {100 * share:.1f} %" for name, share
                 in disagreement_shares(result.metrics["confusion_matrix"]).items()]
        st.caption("Share of the area with data in both maps where they differ: "
                   + ", ".join(parts) + ".")


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def agreement(result: RunResult) -> None:
    """Dice figures, the per-class table and the confusion matrix against the reference."""
    mt = result.metrics
    a, b, c = st.columns(3)
    a.metric("Dice, weighted", _fmt(mt.get("dice_weighted")))
    b.metric("Dice, built-up classes (mean)", _fmt(mt.get("dice_macro_builtup")))
    c.metric("Dice, built-up vs other", _fmt(mt.get("dice_binary_builtup")))
    st.dataframe(metrics_frame(mt), hide_index=True, width="stretch")
    st.caption("Empty cells are undefined (the class is absent from both maps). Built-up "
               f"share: predicted {_fmt(mt.get('built_up_share_pred'))}, reference "
               f"{_fmt(mt.get('built_up_share_ref'))}.")
    st.altair_chart(confusion_chart(mt, result.class_names), width="stretch")
    st.caption("Confusion matrix: rows are the reference class, columns the predicted class; "
               "each cell is the share of the reference class's pixels.")


def downloads(result: RunResult) -> None:
    """The download buttons (mask codes chosen with a radio)."""
    codes = st.radio("Codes in the mask GeoTIFF", ["index", "esm"], horizontal=True,
                     key="w_codes", format_func={
                         "index": "0 other, 1 non-residential, 2 residential (255 no data)",
                         "esm": "ESM: 1 other, 250 non-residential, 255 residential (0 no "
                                "data)"}.get)
    for col, (label, kind, suffix, mime, key) in zip(st.columns(len(DOWNLOADS)), DOWNLOADS):
        col.download_button(label, download_bytes(result.run_id, kind.format(codes=codes),
                                                  result),
                            file_name=result.stem + suffix.format(codes=codes), mime=mime,
                            key=key, width="stretch")


# ---------------------------------------------------------------------------------- Model


def classes_frame(card: ModelCard) -> pd.DataFrame:
    """The card's classes as a table."""
    return pd.DataFrame([{"Index": c.index, "Class": c.name, "Colour": c.colour,
                          "ESM code": c.esm_code, "Meaning": c.description}
                         for c in card.classes])


def card_inputs(card: ModelCard) -> None:
    """Classes, inputs, tiles and architecture of a card."""
    st.markdown("**Classes**")
    st.dataframe(classes_frame(card), hide_index=True, width="stretch")
    st.markdown("**Inputs**: Sentinel-2 bands " + ", ".join(card.bands) + " ("
                + card.reflectance + "), plus the indices "
                + ", ".join(f"{k} ({v[0]}, {v[1]})" for k, v in card.indices.items())
                + f"; {card.pixel_size_m:g} m pixels.")
    st.markdown(f"**Tiles**: {card.tile_size} px with {card.overlap} px overlap; "
                f"normalisation: {card.normalisation.method}.")
    st.markdown(f"**Architecture**: UNet, base width {card.architecture.base_width}, "
                f"{'bilinear' if card.architecture.bilinear else 'transposed-conv'} "
                "upsampling.")


def card_provenance(card: ModelCard) -> None:
    """Training data, measured metrics, limitations and licence of a card."""
    st.markdown("**Training data**")
    for item in card.training_data:
        st.markdown("- " + ", ".join(f"{k}: {v}" for k, v in item.items()))
    if not card.training_data:
        st.caption("Not recorded in the card.")
    st.markdown("**Measured metrics**")
    if card.metrics:
        table = card_metrics_frame(card.metrics)
        if len(table):
            st.dataframe(table, hide_index=True, width="stretch")
        for key, value in card.metrics.items():
            if isinstance(value, str):
                st.caption(f"{key}: {value}")
        with st.expander("All metrics (JSON)"):
            st.json(card.metrics)
    else:
        st.caption("Not recorded in the card.")
    st.markdown("**Known limitations**")
    for item in card.limitations or ["Not recorded in the card."]:
        st.markdown(f"- {item}")
    st.caption(f"Licence: {card.licence}")


def card_summary(loaded: LoadedModel) -> None:
    """The model card of the session's model."""
    card = loaded.card
    st.subheader(f"{card.name} (version {card.version})")
    if card.description:
        st.write(card.description)
    st.caption(f"Weights: {loaded.path.name} · sha256 `{loaded.sha256}` · "
               f"{resources.device_summary(loaded)}")
    a, b = st.columns(2)
    with a:
        card_inputs(card)
    with b:
        card_provenance(card)


def use_weights(weights, card_file) -> None:
    """Check uploaded weights (and card) and make them the session's model."""
    if weights is None:
        st.error("Choose a weights file (.pt or .pth) first.")
        return
    try:
        path = stage_weights(weights.getvalue(), weights.name,
                             card_file.getvalue() if card_file is not None else None)
        new = resources.get_model(path)
    except UrbansegError as exc:
        show_error(exc)
        return
    state.put(state.MODEL_PATH, str(path))
    st.success(f"Loaded **{new.card.name}**: the weights fit the model. New runs use them.")
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
        st.rerun()
