"""The dashboard (``streamlit run app.py``): the only part of urbanseg that imports Streamlit,
folium, streamlit-folium, leafmap or geemap.

The pages in ``pages/`` hold layout only; they call these modules:

- :mod:`.shell`: the first paint (title at once, loading note), sidebar, background warm-up;
- :mod:`.views`: the sections of each page (map, Run column, results, model card);
- :mod:`.panels`: the three imagery panels (sample, upload, Earth Engine);
- :mod:`.compare`: the Compare two dates page (two dates -> a from-to change map);
- :mod:`.controller`: what Run does (status box, result kept in the session, prefetch);
- :mod:`.runner`: the run cache (keyed on the request), the run queue, honest status;
- :mod:`.resources`: shared objects (the model loaded in the background, the sample scene);
- :mod:`.state`: the settings model every widget is bound to (values survive page switches);
- :mod:`.earthengine`: the Earth Engine connection, AOI sizing and tile layers;
- :mod:`.map`: leafmap maps around the image layers of :mod:`urbanseg_core.io.display`, and
  two linked maps to compare; :mod:`.mapcontrols`: their legend and notes; :mod:`.overlays`:
  a result's layers; :mod:`.eelayers`: Earth Engine tiles through geemap; :mod:`.assets`:
  the map's scripts and stylesheets, served by the app (no CDN);
- :mod:`.widgets`: small pieces of UI (errors, progress, tables, charts, downloads);
- :mod:`.messages`: errors and notes worded for the page; user names shown as text.

The work itself (a request -> a result and its downloads) is :mod:`urbanseg_core.runs`.
"""
