"""Every urbanseg exception, in one module, each with a standard base so callers can catch either.

An error says what was wrong in a plain sentence (:attr:`UrbansegError.problem`) and what to
do in words that name no user interface (:attr:`UrbansegError.fix`); it carries the facts as
attributes (which bands are missing, which value, which file). ``str(error)`` is problem and
fix together. The command line (:mod:`urbanseg_core.cli.errors`) and the app
(:mod:`urbanseg_core.app.messages`) replace the fix of some errors with their own words: a
flag such as ``--bands`` on the command line, the band form on the page.

The CLI prints one line on stderr and exits with code 2; the app shows the sentence with
``st.error``. Anything else that escapes is a bug.
"""

from __future__ import annotations

import copy
from typing import Callable, Mapping


class UrbansegError(Exception):
    """Base class: a problem the user can fix, described in plain language.

    Args:
        problem: what was wrong (one or two sentences).
        fix: what to do, naming no command-line flag and no page widget.
        **data: the facts, one keyword per attribute the class declares (below, per class);
            they survive pickling (dask sends errors between processes).

    Raises:
        TypeError: a keyword the class does not declare.
    """

    def __init__(self, problem: str, fix: str = "", **data):
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix
        unknown = [k for k in data if not hasattr(type(self), k)]
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        for key, value in data.items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)

    def __str__(self) -> str:
        return f"{self.problem} {self.fix}".strip()

    def prefixed(self, prefix: str) -> "UrbansegError":
        """A copy of this error (same type and data) whose problem starts with ``prefix``."""
        out = copy.copy(self)
        out.problem = prefix + self.problem
        out.args = (out.problem, out.fix)
        return out


#: How a front end words the fix of some errors: error type -> ``fix(error)``, returning the
#: fix in the front end's terms, or ``None`` to keep the error's own.
Fixes = Mapping[type, Callable[["UrbansegError"], "str | None"]]


def reword(exc: UrbansegError, fixes: Fixes) -> str:
    """The sentence a front end shows for an error: its problem, then the fix that ``fixes``
    gives for the error's type (or its nearest base class), else the error's own fix."""
    for cls in type(exc).__mro__:
        if cls in fixes:
            fix = fixes[cls](exc)
            if fix is not None:
                return f"{exc.problem} {fix}".strip()
            break
    return str(exc)


class MissingDependencyError(UrbansegError, ImportError):
    """An optional package is not installed (see :func:`urbanseg_core.lazy.lazy_import`).

    Attributes:
        module: the module that failed to import, e.g. ``"distributed"``.
        package: what to install, e.g. ``"dask[distributed]"``.
    """

    module: str = ""
    package: str = ""


class InputError(UrbansegError, ValueError):
    """An input file or value cannot be used (missing, corrupt, wrong type, too large)."""


class TooLargeError(InputError):
    """An image has more pixels than allowed here.

    Attributes:
        pixels: the image's pixel count.
        limit: the largest pixel count allowed.
        source: the file or folder, as named in the message.
        stack: the image is a stack of single-band files still to be made.
    """

    pixels: int = 0
    limit: int = 0
    source: str = ""
    stack: bool = False


class TilingError(InputError):
    """A tile size or overlap that cannot tile a raster.

    Attributes:
        tile_size: the tile side asked for, px.
        overlap: the overlap asked for, px.
    """

    tile_size: int = 0
    overlap: int = 0


class OutputError(InputError):
    """An output file cannot be written where it was asked for.

    Attributes:
        output: the output path as given.
    """

    output: str = ""


class OutputExistsError(OutputError):
    """The output file exists and replacing it was not asked for."""


class OverwritesInputError(OutputError):
    """An output would replace one of the same command's inputs.

    Attributes:
        input: the input it would replace.
    """

    input: str = ""


class AreaTooLargeError(InputError):
    """An area of interest larger than allowed for an interactive download.

    Attributes:
        area_km2: the area's geodesic area, km².
        limit_km2: the largest area allowed, km².
    """

    area_km2: float = 0.0
    limit_km2: float = 0.0


class OffsetMetadataError(InputError):
    """A product metadata file (``MTD_MSIL*.xml``) cannot give the DN offset.

    Attributes:
        path: the metadata file.
        offsets: the offsets it declares (several: one per band), empty when unreadable.
    """

    path: str = ""
    offsets: tuple[float, ...] = ()


class UnsupportedOffsetError(InputError):
    """A declared DN offset that this front end does not apply (the app applies 0 or -1000).

    Attributes:
        offset: the declared offset in DN.
    """

    offset: float = 0.0


class BandOrderError(InputError):
    """The model's Sentinel-2 bands cannot be found in a raster.

    Attributes:
        missing: model bands that were not found.
        found: the names found per file band (``""`` for unnamed bands).
        duplicated: bands given more than once (band forms).
    """

    missing: tuple[str, ...] = ()
    found: tuple[str, ...] = ()
    duplicated: tuple[str, ...] = ()


class UnnamedBandsError(BandOrderError):
    """A raster's bands have no Sentinel-2 names and its band count gives no default order;
    the user must say which band is which."""


class ReferenceError_(InputError):
    """A reference mask cannot be read or its class codes are not recognised."""


class ReferenceCodesError(ReferenceError_):
    """A reference mask's class codes match no known convention (or are negative).

    Attributes:
        values: the (first) values found in the mask.
    """

    values: tuple[int, ...] = ()


class ModelLoadError(UrbansegError, ValueError):
    """A weights file or model card cannot be loaded or does not fit the model.

    Attributes:
        path: the file that could not be loaded ("" when not known).
        detail: the loader's own technical message, for an expander or a log (not shown in
            the sentence).
    """

    path: str = ""
    detail: str = ""


class StaleGraphError(ModelLoadError):
    """A model card's ONNX graph was exported from other weights than the card's (left over
    after the weights were replaced).

    Attributes:
        graph: the graph file; weights: the weights file it should have come from.
    """

    graph: str = ""
    weights: str = ""


class WeightsMismatchError(ModelLoadError):
    """Weights whose state-dict keys or shapes do not fit the card's network.

    Attributes:
        missing, unexpected: state-dict keys the network expects and does not find, or finds
            and does not expect.
        misshaped: ``"key (shape) (expected shape)"`` for keys of another shape.
    """

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    misshaped: tuple[str, ...] = ()


class ModelCardError(ModelLoadError):
    """A model card asks for inputs the code cannot produce (bands, indices, channels).

    Attributes:
        bands: requested bands that are not among the bands read from images.
        indices: names of requested indices that cannot be computed.
    """

    bands: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()


class EarthEngineError(UrbansegError, RuntimeError):
    """Earth Engine is not connected, refused a request or returned no data."""


class BatchError(UrbansegError, RuntimeError):
    """Some tiles of a batch failed or the cluster cannot be reached."""


class ReferenceContentError(ReferenceError_):
    """A reference mask that can be read but cannot teach the model: too few labelled pixels
    over the image, no built-up pixels, or too few to hold a validation block back.

    Attributes:
        labelled_px: reference pixels over the image's valid area.
        built_up_px: of those, pixels labelled non-residential or residential.
        needed_px: the fewest built-up pixels that would do.
    """

    labelled_px: int = 0
    built_up_px: int = 0
    needed_px: int = 0


class NotBetterError(UrbansegError, ValueError):
    """An adapted model that is no better than its parent on the held-back validation block,
    and so was not saved.

    Attributes:
        before: the parent's score on the block.
        after: the adapted model's best score on the block.
        metric: the score's name (e.g. ``"macro built-up Dice"``).
    """

    before: float = 0.0
    after: float = 0.0
    metric: str = ""


class CancelledError(UrbansegError, RuntimeError):
    """A long task (an adaptation) was stopped by its user; nothing was written."""
