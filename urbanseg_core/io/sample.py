"""The bundled sample scene: Sentinel-2 L1C, tile T33UUU, 2017-02-16, west of Berlin.

Package data (``urbanseg_core/sample_data/``); see its ``ATTRIBUTION.md``.
"""

from __future__ import annotations

from pathlib import Path

from .scene import Scene, read_scene

#: The bundled sample scene (11 bands with band descriptions, uint16 DN).
SAMPLE_SCENE = Path(__file__).resolve().parents[1] / "sample_data" / "sample_t33uuu_2017-02-16.tif"


def load_sample() -> Scene:
    """The bundled sample scene as a :class:`~urbanseg_core.io.scene.Scene` (``(11, 768, 1024)``
    float32 reflectance)."""
    return read_scene(SAMPLE_SCENE)
