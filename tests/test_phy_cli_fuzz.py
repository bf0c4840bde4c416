"""``cposim link`` never shows a traceback: any length or rate text is an answer or exit 2."""

import contextlib
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli import main


def run(*argv):
    """``main`` with stdout/stderr captured fresh for each hypothesis example."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["link", *argv])
        except SystemExit as exc:  # argparse's own usage errors exit 2 with one line too
            code = exc.code
    return code, out.getvalue(), err.getvalue()

TEXT = st.one_of(
    st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("--")),
    st.builds(lambda x, u: f"{x:g}{u}", st.floats(allow_nan=True, allow_infinity=True),
              st.sampled_from(["m", " m", "km", "mm", "cm", "s", "G", "Gb/s", "", "ft"])),
)


def names(err: str, text: str) -> bool:
    """The message quotes ``text`` (as typed, stripped, or as its Python repr)."""
    forms = {text, text.strip(), repr(text)[1:-1], repr(text.strip())[1:-1]}
    return any(f and f in err for f in forms)


@settings(max_examples=60, deadline=None)
@given(length=TEXT)
def test_any_length_text_is_an_answer_or_a_one_line_error(length):
    code, out, err = run("--tech", "cpo", "--lane-rate", "200G", "--length", length, "--json")
    assert code in (0, 2)
    if code == 0:
        d = json.loads(out)
        assert d["length_m"] >= 0 and isinstance(d["feasible"], bool)
    else:
        assert out == "" and err.count("\n") == 1 and err.startswith("cposim link: error:")
        assert names(err, length)  # the message names the bad value


@settings(max_examples=40, deadline=None)
@given(rate=TEXT)
def test_any_rate_text_is_an_answer_or_a_one_line_error(rate):
    code, out, err = run("--tech", "copper-dac", "--lane-rate", rate, "--length", "1m", "--json")
    assert code in (0, 2)
    if code == 0:
        assert json.loads(out)["lane_rate_bps"] in (100e9, 200e9)
    else:
        assert out == "" and err.count("\n") == 1 and names(err, rate)
