"""SPDX licence identifiers commonly used for data and code.

Not the whole SPDX list (600+ ids): an id outside this set gets a warning,
not an error, so an exotic but valid licence still passes without --strict.
"""

SPDX_IDS = frozenset(
    """
    0BSD AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-2.0 Artistic-2.0 BSD-2-Clause BSD-3-Clause
    BSD-3-Clause-Clear BSD-4-Clause BSL-1.0 CC-BY-1.0 CC-BY-2.0 CC-BY-2.5 CC-BY-3.0 CC-BY-4.0
    CC-BY-NC-4.0 CC-BY-NC-ND-4.0 CC-BY-NC-SA-4.0 CC-BY-ND-4.0 CC-BY-SA-3.0 CC-BY-SA-4.0 CC0-1.0
    CC-PDDC CDLA-Permissive-1.0 CDLA-Permissive-2.0 CDLA-Sharing-1.0 ECL-2.0 EPL-1.0 EPL-2.0
    EUPL-1.2 GFDL-1.3-only GFDL-1.3-or-later GPL-2.0-only GPL-2.0-or-later GPL-3.0-only
    GPL-3.0-or-later ISC LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later MIT
    MIT-0 MPL-2.0 MS-PL NCSA ODbL-1.0 ODC-By-1.0 OFL-1.1 PDDL-1.0 PSF-2.0 Python-2.0 Unlicense
    UPL-1.0 WTFPL Zlib etalab-2.0 OGL-UK-3.0 NLOD-2.0 DL-DE-BY-2.0
    """.split()  # noqa: SIM905 - a word list reads better than 60 quoted strings
)
