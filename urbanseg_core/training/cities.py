"""The labelled cities of the cross-city protocol, in words (no heavy imports: the app's
Model page names them too).

Keys are those of ``urbanseg crossval`` tables: ``islamabad``, ``bercy`` and the folder names
of the city datasets under the data root (their READMEs give sources and licences).
"""

from __future__ import annotations

#: The place each city key covers (tables, the Model page, and the ``area`` recorded with
#: the training data's extent in a card).
CITY_NAMES = {"islamabad": "Islamabad/Rawalpindi", "bercy": "Paris Bercy",
              "hongkong_lcz": "Hong Kong (Tseung Kwan O)", "cupertino_zoning": "West San Jose",
              "montpellier_buildings": "Montpellier"}
#: What the labelled city folders hold, for the model card.
CITY_DESCRIPTIONS = {
    "hongkong_lcz": "Hong Kong (Tseung Kwan O) Sentinel-2 L1C 2016-09-27 and 2018-03-23 "
                    "(Onera OSCD) with Local Climate Zone labels (IEEE GRSS DFC2017 / WUDAPT, "
                    "100 m)",
    "cupertino_zoning": "West San Jose Sentinel-2 L1C 2015-09-18 and 2018-03-26 (Onera OSCD) "
                        "with City of San Jose zoning polygons",
    "montpellier_buildings": "Montpellier Sentinel-2 L1C 2015-08-12 and 2017-10-30 (Onera "
                             "OSCD) with the Ville de Montpellier's non-residential buildings "
                             "(open data, 2014)"}


def city_name(key: str) -> str:
    """The short name of a city key (unknown keys: the key with spaces for underscores)."""
    return CITY_NAMES.get(key, key.replace("_", " "))
