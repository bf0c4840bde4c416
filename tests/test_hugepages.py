"""numpy's huge-page advice is off in the processes cposim's commands own, unless the user
chose otherwise; importing cposim leaves it alone."""

import os
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")
_get = getattr(getattr(np, "_core", np).multiarray, "_get_madvise_hugepage", None)
pytestmark = pytest.mark.skipif(_get is None, reason="numpy has no huge-page switch")


def _state_in_command(env_value):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = ("import numpy as np, sim.cli\n"
            "try:\n    sim.cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(int(getattr(np, '_core', np).multiarray._get_madvise_hugepage()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().splitlines()[-1]      # (after the --version line)


def _numpy_default(env_value=None):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = ("import numpy as np, sim, sim.runtime, workloads\n"
            "print(int(getattr(np, '_core', np).multiarray._get_madvise_hugepage()))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_off_in_the_command():
    assert _state_in_command(None) == "0"


def test_importing_cposim_changes_nothing():
    plain = subprocess.run([sys.executable, "-c", "import numpy as np; print(int(getattr(np, "
                            "'_core', np).multiarray._get_madvise_hugepage()))"],
                           env={k: v for k, v in os.environ.items()
                                if k != "NUMPY_MADVISE_HUGEPAGE"},
                           capture_output=True, text=True, check=True).stdout.strip()
    assert _numpy_default() == plain


def test_user_choice_stands():
    # numpy turns it on only on kernels >= 4.6; "1" must at least not be turned off by us
    on = subprocess.run([sys.executable, "-c",
                         "import numpy as np; print(int(getattr(np, '_core', np)"
                         ".multiarray._get_madvise_hugepage()))"],
                        env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "1"},
                        capture_output=True, text=True, check=True).stdout.strip()
    assert _state_in_command("1") == on
    assert _state_in_command("0") == "0"
