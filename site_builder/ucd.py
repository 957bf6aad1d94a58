"""IVOA UCD1+ checks (astropy ships the controlled vocabulary)."""

from __future__ import annotations

import difflib
from functools import cache

from astropy.io.votable import ucd as _ucd


@cache
def _words() -> list[str]:
    _ucd.parse_ucd("meta.id", check_controlled_vocabulary=True)  # loads the vocabulary
    return sorted(_ucd._ucd_singleton._descriptions)


@cache
def check_ucd(text: str) -> tuple[str, str | None] | None:
    """None when ``text`` is a valid UCD, else ``(problem, hint)``.

    >>> check_ucd("pos.eq.ra;meta.main") is None
    True
    >>> check_ucd("pos.ra")
    ("'pos.ra' is not a word of the IVOA UCD vocabulary", "did you mean 'pos.eq.ra'?")
    """
    try:
        _ucd.parse_ucd(text, check_controlled_vocabulary=True, has_colon=False)
    except ValueError as exc:
        reason = str(exc)
        bad = reason.split("'")[1] if reason.count("'") >= 2 else text
        if reason.startswith("Unknown word"):
            words = _words()
            # A missing middle word ('pos.ra' for 'pos.eq.ra') is the commonest slip
            # and defeats ratio matching, so look for it first.
            head, _, tail = bad.lower().rpartition(".")
            close = [w for w in words if head and w.startswith(head + ".") and w.endswith("." + tail)][:1]
            close = close or difflib.get_close_matches(bad.lower(), words, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "see https://www.ivoa.net/documents/UCD1+/"
            return f"{bad!r} is not a word of the IVOA UCD vocabulary", hint
        if "not valid as a primary word" in reason:
            return (
                f"{bad!r} cannot come first in a UCD",
                "put the main word first, e.g. 'pos.eq.ra;meta.main'",
            )
        return f"{text!r} is not a valid UCD: {reason}", "see https://www.ivoa.net/documents/UCD1+/"
    return None
