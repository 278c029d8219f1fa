"""Handles, e-mail addresses in any domain and spelled out, URLs: exact spans."""

from __future__ import annotations

import pytest

from tests.pipeline.deid.recognizers.conftest import spans

EXACT = [
    ("john dot smith at gmail dot com", ("john dot smith at gmail dot com", "EMAIL_ADDRESS")),
    ("write to jo [at] example [dot] org please", ("jo [at] example [dot] org", "EMAIL_ADDRESS")),
    ("email jo.b@clinic.internal now", ("jo.b@clinic.internal", "EMAIL_ADDRESS")),
    ("dm u/throwaway_lonely_88 later", ("u/throwaway_lonely_88", "HANDLE")),
    ("follow @sad_panda_22", ("@sad_panda_22", "HANDLE")),
]


@pytest.mark.parametrize("text,expected", EXACT, ids=[e[1][0] for e in EXACT])
def test_exact_spans(engine, text, expected):
    assert expected in spans(engine, text), spans(engine, text)


def test_at_and_dot_in_prose_are_not_an_email(engine):
    assert spans(engine, "i was at home and felt like a dot in the sky") == []
