"""What a change run is asked to do: two dates of one area (:class:`ChangeRequest`), and the
cache key of its answer. Light (no model code), like :mod:`.request`.

Each date is the :class:`~urbanseg_core.runs.request.RunRequest` that would segment it alone:
an uploaded image (a GeoTIFF, or band files stacked into one; its band order and DN offset) or,
with Earth Engine, the composite of a date range for the area drawn on the map. Both dates of
one request come the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..util import json_digest
from .request import RunRequest

#: The kinds of source a change run reads (both dates alike).
CHANGE_KINDS: tuple[str, ...] = ("upload", "earthengine")
#: The two dates, in order.
WHICH: tuple[str, str] = ("before", "after")


@dataclass(frozen=True)
class ChangeRequest:
    """Everything that determines a change run's answer.

    Attributes:
        before, after: the two dates, each as the request that reads it (same kind; their
            reference fields are not used).

    Raises:
        ValueError: the dates are of different kinds, or of a kind not in
            :data:`CHANGE_KINDS`.
    """

    before: RunRequest
    after: RunRequest

    def __post_init__(self) -> None:
        kinds = {self.before.kind, self.after.kind}
        if len(kinds) != 1 or not kinds <= set(CHANGE_KINDS):
            raise ValueError(f"both dates must be of one kind of {CHANGE_KINDS}, not {kinds}")

    @property
    def kind(self) -> str:
        """``"upload"`` or ``"earthengine"``."""
        return self.before.kind

    @property
    def dates(self) -> tuple[RunRequest, RunRequest]:
        """``(before, after)``."""
        return self.before, self.after

    def key(self, model_sha256: str) -> str:
        """Hex sha256 of the inputs that determine the answer (each date's
        :meth:`~urbanseg_core.runs.request.RunRequest.key`, in order: paths excluded)."""
        return json_digest({"run": "change", "before": self.before.key(model_sha256),
                            "after": self.after.key(model_sha256)})
