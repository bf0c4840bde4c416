"""Start-up: the parser of every subcommand is built without the heavy libraries, which load
when a command needs them (`cposim --help` and `cposim link` stay fast)."""

import os
import subprocess
import sys

HEAVY = ("pandas", "pint", "matplotlib", "pyarrow", "dask", "simpy", "scipy", "numpy")


def _modules_after(code: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(m for m in sys.modules if '.' not in m)))"],
                         capture_output=True, text=True, check=True, env=env)
    return set(out.stdout.split())


def test_help_imports_no_heavy_library():
    got = _modules_after("import sim.cli\ntry:\n    sim.cli.main(['--help'])\n"
                         "except SystemExit:\n    pass")
    assert not got & set(HEAVY), sorted(got & set(HEAVY))


def test_link_needs_no_pint_pandas_or_simulator():
    got = _modules_after("import sim.cli, contextlib, io\nwith contextlib.redirect_stdout("
                         "io.StringIO()):\n    sim.cli.main(['link', '--tech', 'cpo', "
                         "'--lane-rate', '200G', '--length', '30m'])")
    assert not got & {"pandas", "pint", "matplotlib", "simpy", "pyarrow"}, got


def test_collective_on_a_switch_needs_no_pandas():
    got = _modules_after("import sim.cli, contextlib, io\nwith contextlib.redirect_stdout("
                         "io.StringIO()):\n    sim.cli.main('collective --op allreduce --algo "
                         "ring --gpus 64 --size 1GiB --fidelity flow --json'.split())")
    assert "simpy" in got and not got & {"pandas", "pint", "matplotlib"}, got
