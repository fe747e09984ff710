"""Earth Engine in process: connect, build the Sentinel-2 composite and GHSL reference for an
AOI, fetch them on a UTM grid, tile layers for the map, and export tasks for large areas.

Modules (one job each):

* :mod:`.auth` -- connect once per process (service account or ``earthengine authenticate``).
* :mod:`.composite` -- the Cloud Score+ masked Sentinel-2 composite (an ``ee.Image``).
* :mod:`.reference` -- the GHSL built-up characteristics reference, in the model's classes.
* :mod:`.grid` -- the UTM download grid and its split into requests (no ``ee`` import).
* :mod:`.download` -- parallel ``computePixels`` with retries, stitched into a ``Scene``.
* :mod:`.layers` -- tile URLs for folium.
* :mod:`.export` -- export tasks (Drive / Cloud Storage) and their status; training pairs.
* :mod:`.errors` -- turn Earth Engine exceptions into plain messages.

Importing this package does not import ``ee``; the submodules that need it do.
"""
