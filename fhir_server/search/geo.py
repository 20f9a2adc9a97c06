"""The special ``near`` parameter of Location (http://hl7.org/fhir/R4/location.html#positional).

``near=lat|long|distance|unit`` becomes a latitude/longitude bounding box on ``_geo`` (served by
an index) plus an exact great-circle post-filter, :func:`within`, the executor applies to the
candidates (WGS84 mean earth radius; distances in km).
"""

from __future__ import annotations

import math
from typing import Any

from fhir_server.search.model import NearValue

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180


def bounding_box(near: NearValue) -> dict[str, Any]:
    """A filter on ``_geo.lat``/``_geo.lon`` covering every point within ``near.distance_km``."""
    dlat = near.distance_km / KM_PER_DEGREE
    lat_lo, lat_hi = max(-90.0, near.lat - dlat), min(90.0, near.lat + dlat)
    cos_lat = min(math.cos(math.radians(lat_lo)), math.cos(math.radians(lat_hi)))
    if cos_lat <= 1e-9 or lat_lo <= -90 or lat_hi >= 90:
        return {"_geo.lat": {"$gte": lat_lo, "$lte": lat_hi}}
    dlon = near.distance_km / (KM_PER_DEGREE * cos_lat)
    lat = {"_geo.lat": {"$gte": lat_lo, "$lte": lat_hi}}
    if dlon >= 180:
        return lat
    lon_lo, lon_hi = near.lon - dlon, near.lon + dlon
    if lon_lo < -180:
        lon = {"$or": [{"_geo.lon": {"$gte": lon_lo + 360}}, {"_geo.lon": {"$lte": lon_hi}}]}
        return {**lat, **lon}
    if lon_hi > 180:
        lon = {"$or": [{"_geo.lon": {"$gte": lon_lo}}, {"_geo.lon": {"$lte": lon_hi - 360}}]}
        return {**lat, **lon}
    return {**lat, "_geo.lon": {"$gte": lon_lo, "$lte": lon_hi}}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def within(doc: dict[str, Any], near: NearValue) -> bool:
    """True when the stored document's ``_geo`` lies within the ``near`` distance."""
    geo = doc.get("_geo")
    if not isinstance(geo, dict):
        return False
    return distance_km(near.lat, near.lon, geo["lat"], geo["lon"]) <= near.distance_km
