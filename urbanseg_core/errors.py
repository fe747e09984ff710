"""Errors with messages meant for people: each says what was wrong and what to do.

The CLI prints ``str(error)`` on one line of stderr and exits with code 2; the app shows it
with ``st.error``. Anything else that escapes is a bug.
"""


class UrbansegError(Exception):
    """Base class: a problem the user can fix, described in plain language."""


class InputError(UrbansegError):
    """An input file or value cannot be used (missing, corrupt, wrong type, too large)."""


class BandOrderError(InputError):
    """The model's Sentinel-2 bands cannot be found in a raster."""


class ModelLoadError(UrbansegError):
    """A weights file or model card cannot be loaded or does not fit the model."""


class ReferenceError_(InputError):
    """A reference mask cannot be read or its class codes are not recognised."""


class EarthEngineError(UrbansegError):
    """Earth Engine is not connected, refused a request or returned no data."""
