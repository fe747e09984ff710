"""Model: the model card, and loading other weights."""

import streamlit as st

from urbanseg_core.app import shell

loading = shell.header("Model")
from urbanseg_core.app import adapt, views  # noqa: E402

loading.empty()
views.flash_messages()
ref = views.model_ref_or_notice(notice=False)
if ref is not None:
    views.card_summary(ref)

st.divider()
st.subheader("Load other weights")
st.write("Use weights trained with `urbanseg train` (the `.pt` file with its `.json` card) or "
         "the original project's `final_model.pth`. They are checked before use; this "
         "session then runs with them.")
views.weights_form()

st.divider()
st.subheader("Models of this session")
adapt.session_models()
