"""e-Boekhouden.nl/.be as a booking target, over REST (current) or SOAP (legacy)."""

from connectors.eboekhouden.rest import EBoekhoudenRest
from connectors.eboekhouden.soap import EBoekhoudenSoap

__all__ = ["EBoekhoudenRest", "EBoekhoudenSoap"]
