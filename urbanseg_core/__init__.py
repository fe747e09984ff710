"""urbanseg_core: residential and non-residential built-up areas from Sentinel-2 imagery.

Data flow, one module per arrow::

    source (sample | file | Earth Engine)   bands.read_scene / gee
      -> Scene: (11, H, W) reflectance      bands
      -> 15 channels (+4 indices)           indices, normalise
      -> tiles -> UNet -> class map (H, W)  tiling, predict, model, loading
      -> areas, Dice, files                 stats, metrics, outputs

The CLI (``urbanseg``) and the Streamlit app only call these modules.
"""

__version__ = "0.1.0"
