"""IVOA UCD1+ checks against the controlled vocabulary that astropy ships.

Valid UCDs (nearly all) are accepted by a set lookup in the vocabulary file
itself, which avoids importing astropy (a third of a second) when validating
metadata; a UCD that fails the lookup is parsed by
``astropy.io.votable.ucd.parse_ucd(..., check_controlled_vocabulary=True)``,
whose verdict and message are the reference.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path

_CHARS = re.compile(r"^[A-Za-z0-9_.;\-]+$")


@cache
def _vocabulary() -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """(primary words, secondary words, all words), lower-case, as astropy reads them."""
    spec = importlib.util.find_spec("astropy")
    if spec is None or spec.origin is None:  # pragma: no cover - astropy is a dependency
        raise RuntimeError("astropy is not installed")
    words_file = Path(spec.origin).parent / "io" / "votable" / "data" / "ucd1p-words.txt"
    primary, secondary, words = set(), set(), []
    for line in words_file.read_text(encoding="ascii").splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        kind, name, _ = (x.strip() for x in line.split("|", 2))
        name = name.lower()
        words.append(name)
        if kind in "QPEVC":
            primary.add(name)
        if kind in "QSEVC":
            secondary.add(name)
    return frozenset(primary), frozenset(secondary), tuple(sorted(words))


def _fast_valid(text: str) -> bool:
    if not _CHARS.match(text):
        return False
    primary, secondary, _ = _vocabulary()
    parts = text.lower().split(";")
    return parts[0] in primary and all(p in secondary for p in parts[1:])


@cache
def check_ucd(text: str) -> tuple[str, str | None] | None:
    """None when ``text`` is a valid UCD, else ``(problem, hint)``.

    >>> check_ucd("pos.eq.ra;meta.main") is None
    True
    >>> check_ucd("pos.ra")
    ("'pos.ra' is not a word of the IVOA UCD vocabulary", "did you mean 'pos.eq.ra'?")
    """
    if _fast_valid(text):
        return None
    from astropy.io.votable import ucd as _ucd

    try:
        _ucd.parse_ucd(text, check_controlled_vocabulary=True, has_colon=False)
    except ValueError as exc:
        reason = str(exc)
        bad = reason.split("'")[1] if reason.count("'") >= 2 else text
        if reason.startswith("Unknown word"):
            words = _vocabulary()[2]
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
        if "not valid as a secondary word" in reason:
            return f"{bad!r} can only come first in a UCD", "start the UCD with it, or choose a secondary word"
        return f"{text!r} is not a valid UCD: {reason}", "see https://www.ivoa.net/documents/UCD1+/"
    return None
