# What type checkers see of the package: sim/__init__.py loads the API names on first use
# (PEP 562), so their types are declared here. Keep in step with _LAZY there.
from experiments import run_bench as run_bench
from experiments import run_figure as run_figure
from sim.api import AstraRun as AstraRun
from sim.api import CollectiveRun as CollectiveRun
from sim.api import Link as Link
from sim.api import StudyResult as StudyResult
from sim.api import collective as collective
from sim.api import generate_trace as generate_trace
from sim.api import link as link
from sim.api import load_trace as load_trace
from sim.api import run_astra as run_astra
from sim.api import run_study as run_study
from sim.api import run_sweep as run_sweep
from sim.api import save_trace as save_trace
from sim.api import topology as topology
from sim.api import trace_info as trace_info
from sim.errors import CposimError as CposimError

__version__: str
__all__: list[str]
