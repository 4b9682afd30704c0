"""The tax office's business-status API (국세청 사업자등록 상태조회; issue 7, KOREA-FACTS).

Placeholder of the foundations commit: the registries helper replaces it with the real
adapter and its loopback emulator.
"""

from __future__ import annotations

from typing import Any

from idp.services.ports import BusinessRegistry, Clock
from idp.stores import Store


def build_business_registry(settings: dict[str, Any], store: Store, clock: Clock
                            ) -> BusinessRegistry | None:
    return None
