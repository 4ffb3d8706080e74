"""HTTP simulators of FactuurSturen.nl and e-Boekhouden.nl for tests, the demo and benchmarks.

Shares no code with connectors/: a bug the two had in common would pass every test.
"""

from sandbox._util import FakeClock
from sandbox.base import RequestRecord
from sandbox.data import DemoData, make_demo_invoices
from sandbox.eb_store import BookError, Mutation, MutationRow, Relation
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.exact import ExactSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.faults import FAULT_KINDS, Fault, Faults
from sandbox.seed import make_sims
from sandbox.server import SandboxServer
from sandbox.twinfield import TwinfieldSim

__all__ = [
    "FAULT_KINDS",
    "BookError",
    "DemoData",
    "EBoekhoudenSim",
    "ExactSim",
    "FactuurSturenSim",
    "FakeClock",
    "Fault",
    "Faults",
    "Mutation",
    "MutationRow",
    "Relation",
    "RequestRecord",
    "SandboxServer",
    "TwinfieldSim",
    "make_demo_invoices",
    "make_sims",
]
