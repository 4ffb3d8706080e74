"""e-Boekhouden.nl/.be as a booking target, over REST (current) or SOAP (legacy)."""

from connectors.eboekhouden.rest import EBoekhoudenRest
from connectors.eboekhouden.settings import EBoekhoudenConnection
from connectors.eboekhouden.soap import EBoekhoudenSoap
from connectors.eboekhouden.spec import SPEC

__all__ = ["SPEC", "EBoekhoudenConnection", "EBoekhoudenRest", "EBoekhoudenSoap"]
