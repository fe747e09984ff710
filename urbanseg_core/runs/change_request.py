"""What a change run is asked to do: two dates of one area (:class:`ChangeRequest`), and the
cache key of its answer. Light (no model code), like :mod:`.request`.

A date is an uploaded image (a GeoTIFF, or band files stacked into one) or, with Earth Engine,
a date range whose composite is fetched for the area drawn on the map; both dates of one
request come the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..util import json_digest
from .request import RunRequest

#: The kinds of source a change run reads (both dates alike).
CHANGE_KINDS: tuple[str, ...] = ("upload", "earthengine")
#: The two dates, in order.
WHICH: tuple[str, str] = ("before", "after")


@dataclass(frozen=True)
class DateSource:
    """One date of a change run.

    Attributes:
        name: a label for the date (file name, or the composite's date range).
        path: the uploaded raster (``None`` for Earth Engine).
        sha256: sha256 of the uploaded file (identifies the content for the cache).
        band_order: names of the file's bands from the band form, or ``None``.
        dn_offset: DN offset (-1000 for non-harmonised Level-2A since 2022-01-25).
        start, end: the composite's date range (ISO dates, end excluded), Earth Engine only.
    """

    name: str
    path: str | None = None
    sha256: str | None = None
    band_order: tuple[str, ...] | None = None
    dn_offset: float = 0.0
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class ChangeRequest:
    """Everything that determines a change run's answer.

    Attributes:
        kind: ``"upload"`` or ``"earthengine"`` (:data:`CHANGE_KINDS`).
        before, after: the two dates.
        aoi: GeoJSON geometry (EPSG:4326) of an Earth Engine request, as text (hashable).
        cloud_threshold: Cloud Score+ ``cs_cdf`` threshold 0-1 of both composites.
    """

    kind: str
    before: DateSource
    after: DateSource
    aoi: str | None = None
    cloud_threshold: float | None = None

    @property
    def dates(self) -> tuple[DateSource, DateSource]:
        """``(before, after)``."""
        return self.before, self.after

    def key(self, model_sha256: str) -> str:
        """Hex sha256 of the inputs that determine the answer (paths excluded)."""
        fields = asdict(self)
        for which in WHICH:
            fields[which].pop("path")
        fields["model_sha256"] = model_sha256
        fields["run"] = "change"
        return json_digest(fields)

    def date_request(self, which: str) -> RunRequest:
        """One date of an Earth Engine request as the
        :class:`~urbanseg_core.runs.request.RunRequest` a
        :class:`~urbanseg_core.runs.request.RemoteSource` fetches (same AOI and cloud
        masking, that date's range)."""
        date = getattr(self, which)
        return RunRequest(kind=self.kind, name=date.name, aoi=self.aoi, start=date.start,
                          end=date.end, cloud_threshold=self.cloud_threshold)
