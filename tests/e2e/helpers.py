"""Page helpers shared by the browser tests."""

from __future__ import annotations

import time

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def open_app(page, url: str, path: str = "") -> None:
    """Open the app and wait until Streamlit has rendered the page."""
    page.goto(url + path)
    page.get_by_role("heading", level=1).first.wait_for()


#: Labels of Map & run's two upload boxes (the reference box is there with the sample too).
IMAGE_BOX = "Sentinel-2 GeoTIFF, or one file per band"
REFERENCE_BOX = "Optional: a reference mask"
AOI_BOX = "Or upload the area as a GeoJSON file"


def dropzone(page, label: str):
    """The file input of the upload box whose label starts with ``label``."""
    box = page.get_by_test_id("stFileUploader").filter(has_text=label)
    return box.locator('[data-testid="stFileUploaderDropzoneInput"]')


def choose_upload(page):
    """Pick "Upload Sentinel-2 files" on Map & run and return the image box's file input,
    once the upload panel is drawn (the sample's reference box is there before it)."""
    page.get_by_text("Upload Sentinel-2 files").click()
    page.get_by_text(IMAGE_BOX).first.wait_for()
    return dropzone(page, IMAGE_BOX)


def map_frame(page):
    """The folium map's iframe (FrameLocator)."""
    return page.frame_locator(MAP_FRAME).first


def loaded_image_layers(page) -> int:
    """Number of Leaflet image overlays in the map whose image has loaded (0 in a map marked
    by :func:`mark_stale`)."""
    frame = page.locator(MAP_FRAME).first.element_handle().content_frame()
    if frame is None:
        return 0
    return frame.evaluate(
        "() => window.__stale ? 0 : Array.from(document.querySelectorAll("
        "'img.leaflet-image-layer')).filter(i => i.complete && i.naturalWidth > 0).length")


def mark_stale(page) -> None:
    """Mark the map shown now, so that :func:`wait_for_layers` waits for the next one."""
    page.locator(MAP_FRAME).first.element_handle().content_frame().evaluate(
        "() => { window.__stale = true; }")


def wait_for_layers(page, n: int, timeout_s: float = 60) -> float:
    """Wait until at least ``n`` loaded image overlays show; returns when (perf_counter)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            if loaded_image_layers(page) >= n:
                return time.perf_counter()
        except Exception:  # noqa: BLE001 - the iframe is being replaced
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} image overlays on the map after {timeout_s} s")


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit is not running the script (no 'Running...' status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_ms)


def nav_to(page, name: str) -> None:
    """Switch page with the sidebar navigation and wait for its title."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    page.get_by_role("heading", level=1, name=name).wait_for()


def run_enabled(page, timeout_ms: int = 120_000) -> None:
    """Wait until the Run button can be pressed."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Run' && !b.disabled)", timeout=timeout_ms)


def slider_value(page, label: str) -> float:
    """The value a labelled Streamlit slider shows."""
    box = page.get_by_test_id("stSlider").filter(has_text=label).first
    return float(box.get_by_test_id("stSliderThumbValue").inner_text())


def checked_radio(page, label: str) -> str:
    """The text of the checked option of a labelled Streamlit radio."""
    group = page.get_by_test_id("stRadio").filter(has_text=label).first
    return group.locator("label:has(input:checked)").inner_text().strip()


def compare_state(page, index: int) -> dict | None:
    """Zoom, loaded images and legends of two linked maps (streamlit-folium keeps them as
    ``window.map`` and ``map_div2`` in the map frame ``index``); ``None`` until both exist."""
    frame = page.locator(MAP_FRAME).nth(index).element_handle().content_frame()
    return frame.evaluate(
        "() => { const maps = [window.map, window.map_div2];"
        " if (!maps.every(m => m && m.getZoom)) { return null; }"
        " return {zooms: maps.map(m => m.getZoom()),"
        " images: maps.map(m => [...m.getContainer().querySelectorAll("
        "'img.leaflet-image-layer')].filter(i => i.complete && i.naturalWidth > 0).length)}; }")
