"""Streamlit glue for the dashboard (``streamlit run app.py``).

The pages in ``pages/`` hold layout only; they call these modules:

- :mod:`.resources`: cached, shared objects (the model, the sample scene, its map layers);
- :mod:`.state`: the session-state keys and helpers (results survive page switches);
- :mod:`.sources`: uploads and the band-mapping form's defaults;
- :mod:`.runner`: the run controller (cache keyed on inputs, progress, device);
- :mod:`.result`: one run's result and its downloads (no Streamlit);
- :mod:`.earthengine`: lazy, optional Earth Engine connection;
- :mod:`.widgets`: small pieces of UI shared by pages (map, errors, device line).
"""
