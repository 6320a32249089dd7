"""French département and region of a postcode, for the analyst's geographic breakdown.

The département rule is the one audience targeting applies in SQL
(``sc_asterisk.contacts.targeting``): first two digits, first three overseas, 2A/2B in Corsica.
"""
from __future__ import annotations

# Regions since 2016, by département code.
_REGIONS = {
    "Auvergne-Rhône-Alpes": "01 03 07 15 26 38 42 43 63 69 73 74",
    "Bourgogne-Franche-Comté": "21 25 39 58 70 71 89 90",
    "Bretagne": "22 29 35 56",
    "Centre-Val de Loire": "18 28 36 37 41 45",
    "Corse": "2A 2B",
    "Grand Est": "08 10 51 52 54 55 57 67 68 88",
    "Hauts-de-France": "02 59 60 62 80",
    "Île-de-France": "75 77 78 91 92 93 94 95",
    "Normandie": "14 27 50 61 76",
    "Nouvelle-Aquitaine": "16 17 19 23 24 33 40 47 64 79 86 87",
    "Occitanie": "09 11 12 30 31 32 34 46 48 65 66 81 82",
    "Pays de la Loire": "44 49 53 72 85",
    "Provence-Alpes-Côte d'Azur": "04 05 06 13 83 84",
    "Guadeloupe": "971", "Martinique": "972", "Guyane": "973", "La Réunion": "974",
    "Mayotte": "976",
}
REGION_OF = {dept: region for region, depts in _REGIONS.items() for dept in depts.split()}


def departement_of(postcode: str | None) -> str | None:
    """The département of a French 5-digit postcode, or None.

    Example: ``departement_of("20167") == "2A"``; ``departement_of("97411") == "974"``
    """
    if not postcode or len(postcode) != 5 or not postcode.isdigit():
        return None
    two = postcode[:2]
    if two in ("97", "98"):
        return postcode[:3]
    if two == "20":
        return "2A" if postcode < "20200" else "2B"
    return two
