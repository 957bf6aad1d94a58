"""UCD checks: the fast vocabulary lookup must agree with astropy's parser."""

from __future__ import annotations

import pytest
from astropy.io.votable.ucd import parse_ucd

from site_builder.catalog.ucd import _fast_valid, _vocabulary, check_ucd


def _astropy_valid(text: str) -> bool:
    try:
        parse_ucd(text, check_controlled_vocabulary=True, has_colon=False)
    except ValueError:
        return False
    return True


def test_fast_path_agrees_with_astropy_on_the_whole_vocabulary():
    words = _vocabulary()[2]
    assert len(words) > 400
    samples = list(words)
    samples += [f"{w};meta.main" for w in words]  # every word first
    samples += [f"phot.mag;{w}" for w in words]  # every word second
    samples += ["POS.EQ.RA;META.MAIN", "pos.ra", "pos eq ra", "", "pos.eq.ra;", "a:b"]
    disagreements = [s for s in samples if _fast_valid(s) and not _astropy_valid(s)]
    assert disagreements == []
    # and the fast path does accept most real UCDs (otherwise it is not a fast path)
    assert sum(_fast_valid(s) for s in samples) > len(words)


@pytest.mark.parametrize(
    "ucd,message,hint",
    [
        ("pos.ra", "'pos.ra' is not a word of the IVOA UCD vocabulary", "did you mean 'pos.eq.ra'?"),
        ("src.redshif", "'src.redshif' is not a word of the IVOA UCD vocabulary", "did you mean 'src.redshift'?"),
        ("meta.main;pos.eq.ra", "'meta.main' cannot come first in a UCD", "put the main word first, e.g. 'pos.eq.ra;meta.main'"),
        ("stat.error;phot.mag;em.opt.Q", "'em.opt.Q' is not a word of the IVOA UCD vocabulary", None),
    ],
)
def test_bad_ucds_are_explained(ucd, message, hint):
    problem = check_ucd(ucd)
    assert problem is not None
    assert problem[0] == message
    if hint:
        assert problem[1] == hint


@pytest.mark.parametrize("ucd", ["pos.eq.ra;meta.main", "src.redshift.phot", "stat.error;src.redshift",
                                 "meta.code.qual", "stat.rank", "meta.curation", "phot.flux;em.opt.I"])
def test_design_ucds_are_valid(ucd):
    assert check_ucd(ucd) is None
