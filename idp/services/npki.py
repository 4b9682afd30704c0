"""The Korean PKI's rules for a corporate certificate authentication (issue 7, KOREA-FACTS).

Placeholder of the foundations commit: the NPKI helper replaces it with the verifier
(chain to the trust anchors, validity, key usage, policy, revocation, VID).
"""

from __future__ import annotations

from typing import Any

from idp.services.ports import CertificateVerifier, Clock
from idp.stores import Store


def build_certificate_verifier(settings: dict[str, Any], store: Store, clock: Clock
                               ) -> CertificateVerifier | None:
    return None
