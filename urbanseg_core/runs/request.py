"""What a run is asked to do: a :class:`RunRequest`, the cache key of its answer, and the
:class:`RemoteSource` a front end supplies for network sources (light: no PyTorch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..util import json_digest

#: The kinds of source a run reads.
KINDS: tuple[str, ...] = ("sample", "upload", "earthengine")


@dataclass(frozen=True)
class RunRequest:
    """Everything that determines a run's answer.

    Attributes:
        kind: ``"sample"``, ``"upload"`` or ``"earthengine"``.
        name: a label for the source (file name, "sample").
        path: the input raster (``None`` for Earth Engine).
        sha256: sha256 of the input file (identifies the content for the cache).
        band_order: names of the file's bands from the band form, or ``None``.
        dn_offset: DN offset (-1000 for non-harmonised Level-2A since 2022-01-25).
        reference_path, reference_sha256, reference_codes: an optional reference mask.
        reference_values: ``((value, class), ...)``: the class (index, or 255 for no data) of
            each value of the reference file, as the user mapped them; ``None``: read the
            values by ``reference_codes``.
        aoi: GeoJSON geometry (EPSG:4326) for Earth Engine runs, as text (hashable).
        start, end: date range (ISO dates, end excluded) for Earth Engine composites.
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1: pixels at least this
            likely to be clear are kept.
    """

    kind: str
    name: str
    path: str | None = None
    sha256: str | None = None
    band_order: tuple[str, ...] | None = None
    dn_offset: float = 0.0
    reference_path: str | None = None
    reference_sha256: str | None = None
    reference_codes: str = "auto"
    reference_values: tuple[tuple[int, int], ...] | None = None
    aoi: str | None = None
    start: str | None = None
    end: str | None = None
    cloud_threshold: float | None = None

    def key(self, model_sha256: str) -> str:
        """Hex sha256 of the inputs that determine the answer (paths excluded)."""
        fields = asdict(self)
        fields.pop("path")
        fields.pop("reference_path")
        fields["model_sha256"] = model_sha256
        return json_digest(fields)


@dataclass(frozen=True)
class RemoteSource:
    """A source fetched over the network (Earth Engine), supplied by the caller.

    Attributes:
        scene: ``scene(request, progress) -> Scene``; ``progress(fraction)``.
        reference: ``reference(request, scene) -> (H, W) uint8 or None`` on the scene's grid
            (``None`` when it cannot be had: the run goes on without it).
        reference_codes: how the result names the reference's codes.
        pixels: ``pixels(request) -> int``: the size of what ``scene`` will fetch (for the
            run's memory need).
    """

    scene: Callable[[RunRequest, Callable[[float], None]], Any]
    reference: Callable[[RunRequest, Any], Any]
    reference_codes: str
    pixels: Callable[[RunRequest], int] = lambda request: 0
