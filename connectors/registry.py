"""Every connector Koppelaar has, by system id. Adding a vendor: its package, and one line here."""

from __future__ import annotations

from connectors import accountview, afas, eboekhouden, exact, factuursturen, twinfield, ubl
from connectors.spec import AnySpec

SPECS: dict[str, AnySpec] = {
    spec.system: spec
    for spec in (
        factuursturen.SPEC,
        eboekhouden.SPEC,
        exact.SPEC,
        twinfield.SPEC,
        ubl.SPEC,
        afas.SPEC,
        accountview.SPEC,
    )
}


class UnknownSystem(LookupError):
    pass


def spec_for(system: str) -> AnySpec:
    try:
        return SPECS[system]
    except KeyError:
        raise UnknownSystem(f"onbekend systeem '{system}' (bekend: {', '.join(sorted(SPECS))})") from None
