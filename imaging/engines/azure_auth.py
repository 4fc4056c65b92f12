"""Entra ID tokens for Azure OpenAI (`auth = "entra"`), through azure-identity.

`DefaultAzureCredential` finds a managed identity, workload identity, environment
credentials or a developer login, so the engines file holds no secret at all. The
package is an optional extra (`pip install 'easelbot[azure]'`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from imaging.engine import EngineLoadError
from imaging.engines.config import EngineSpec

SCOPE = "https://cognitiveservices.azure.com/.default"


def entra_headers(spec: EngineSpec) -> Callable[[], Awaitable[dict[str, str]]]:
    try:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise EngineLoadError("auth = \"entra\" needs azure-identity: "
                              "pip install 'easelbot[azure]'") from None
    # The provider caches the token and refreshes it before it expires.
    token = get_bearer_token_provider(DefaultAzureCredential(), SCOPE)

    async def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {await token()}"}

    return headers
