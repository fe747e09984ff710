"""Model: the model card, and loading other weights."""

import pandas as pd
import streamlit as st

from urbanseg_core.app import resources, state
from urbanseg_core.app.controller import current_model
from urbanseg_core.app.models import stage_weights
from urbanseg_core.app.widgets import card_metrics_frame, show_error
from urbanseg_core.errors import UrbansegError

state.init()
st.title("Model")

try:
    loaded = current_model()
except UrbansegError as exc:
    show_error(exc)
    loaded = None

if loaded is not None:
    card = loaded.card
    st.subheader(f"{card.name} (version {card.version})")
    if card.description:
        st.write(card.description)
    st.caption(f"Weights: {loaded.path.name} · sha256 `{loaded.sha256}` · "
               f"{resources.device_summary(loaded)}")
    a, b = st.columns(2)
    with a:
        st.markdown("**Classes**")
        st.dataframe(pd.DataFrame([{"Index": c.index, "Class": c.name, "Colour": c.colour,
                                    "ESM code": c.esm_code, "Meaning": c.description}
                                   for c in card.classes]), hide_index=True,
                     width="stretch")
        st.markdown("**Inputs**: Sentinel-2 bands " + ", ".join(card.bands) + " ("
                    + card.reflectance + "), plus the indices "
                    + ", ".join(f"{k} ({v[0]}, {v[1]})" for k, v in card.indices.items())
                    + f"; {card.pixel_size_m:g} m pixels.")
        st.markdown(f"**Tiles**: {card.tile_size} px with {card.overlap} px overlap; "
                    f"normalisation: {card.normalisation.method}.")
        st.markdown(f"**Architecture**: UNet, base width {card.architecture.base_width}, "
                    f"{'bilinear' if card.architecture.bilinear else 'transposed-conv'} "
                    "upsampling.")
    with b:
        st.markdown("**Training data**")
        if card.training_data:
            for item in card.training_data:
                st.markdown("- " + ", ".join(f"{k}: {v}" for k, v in item.items()))
        else:
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

st.divider()
st.subheader("Load other weights")
st.write("Use weights trained with `urbanseg train` (the `.pt` file with its `.json` card) or "
         "the original project's `final_model.pth`. They are checked before use; this "
         "session then runs with them.")
with st.form("w_model_form", clear_on_submit=False):
    weights = st.file_uploader("Weights (.pt or .pth)", type=["pt", "pth"], key="w_weights")
    card_file = st.file_uploader("Model card (.json), optional for final_model.pth",
                                 type=["json"], key="w_card")
    submitted = st.form_submit_button("Check and use these weights", type="primary")
if submitted:
    if weights is None:
        st.error("Choose a weights file (.pt or .pth) first.")
    else:
        try:
            path = stage_weights(weights.getvalue(), weights.name,
                                 card_file.getvalue() if card_file is not None else None)
            new = resources.get_model(path)
        except UrbansegError as exc:
            show_error(exc)
        else:
            state.put(state.MODEL_PATH, str(path))
            st.success(f"Loaded **{new.card.name}**: the weights fit the model. New runs use "
                       "them.")
            st.rerun()
if state.get(state.MODEL_PATH):
    if st.button("Go back to the bundled model", key="w_model_reset"):
        state.put(state.MODEL_PATH, None)
        st.rerun()
