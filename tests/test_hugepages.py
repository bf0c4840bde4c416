"""numpy's huge-page advice is off in cposim processes unless the user chose otherwise."""

import os
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")
_get = getattr(getattr(np, "_core", np).multiarray, "_get_madvise_hugepage", None)
pytestmark = pytest.mark.skipif(_get is None, reason="numpy has no huge-page switch")


def _state_after_import(env_value):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = ("import numpy as np; import sim; "
            "print(int(getattr(np, '_core', np).multiarray._get_madvise_hugepage()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_off_by_default_after_import():
    assert _state_after_import(None) == "0"


def test_user_choice_stands():
    # numpy turns it on only on kernels >= 4.6; "1" must at least not be turned off by us
    on = subprocess.run([sys.executable, "-c",
                         "import numpy as np; print(int(getattr(np, '_core', np)"
                         ".multiarray._get_madvise_hugepage()))"],
                        env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "1"},
                        capture_output=True, text=True, check=True).stdout.strip()
    assert _state_after_import("1") == on
    assert _state_after_import("0") == "0"
