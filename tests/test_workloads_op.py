"""Op's fast constructor behaves exactly like the dataclass one it replaces."""

import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.trace import Op


def _reference():
    """A frozen slotted dataclass with Op's fields, keeping the generated __init__."""
    spec = [(f.name, f.type, dataclasses.field(default=f.default)
             if f.default is not dataclasses.MISSING else dataclasses.field())
            for f in dataclasses.fields(Op)]
    return dataclasses.make_dataclass("Op", spec, frozen=True, slots=True)


REF = _reference()
NAMES = [f.name for f in dataclasses.fields(Op)]


def test_signature_is_the_dataclass_one():
    assert inspect.signature(Op) == inspect.signature(REF)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(["compute", "collective", "send", "recv"]),
       st.dictionaries(st.sampled_from(NAMES[2:]),
                       st.one_of(st.none(), st.integers(-5, 5), st.floats(0, 1e9),
                                 st.text(max_size=5)), max_size=6),
       st.integers(0, 4))
def test_same_fields_as_the_dataclass_init(i, kind, kw, n_positional):
    # some of the optional fields passed positionally, in field order
    pos = [kw.pop(n) for n in NAMES[2:2 + n_positional] if n in kw]
    if len(pos) != n_positional:
        pos = []
    a, b = Op(i, kind, *pos, **kw), REF(i, kind, *pos, **kw)
    assert [getattr(a, n) for n in NAMES] == [getattr(b, n) for n in NAMES]
    assert a == Op(i, kind, *pos, **kw) and hash(a) == hash(Op(i, kind, *pos, **kw))


def test_still_frozen_and_errors_as_before():
    op = Op(1, "compute", duration_s=1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.id = 2
    for bad in (lambda: Op(1), lambda: Op(1, "compute", nope=3),
                lambda: Op(1, "compute", id=2)):
        with pytest.raises(TypeError):
            bad()
    assert pickle.loads(pickle.dumps(op)) == op
    assert dataclasses.replace(op, id=7).id == 7 and dataclasses.replace(op, id=7).duration_s == 1e-3
