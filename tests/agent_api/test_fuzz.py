"""Property-based: every endpoint of the OpenAPI schema, sent generated and hostile values
(schemathesis, positive and negative modes), never answers 5xx; on both backends, through
a live server so that a dropped connection shows too."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.agent_api.live import live_api

EXAMPLES = 8  # per operation, mode and user: some 1,500 requests a backend


def test_no_endpoint_answers_5xx(backend: str, tmp_path: Path) -> None:
    with live_api(backend, tmp_path) as live, httpx.Client(base_url=live.url) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
        tokens = {"manager": live.manager, "agent": live.agent}
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            strategy = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
            if operation.path in ("/agents/me/events", "/floor/events"):
                continue  # streams that never end; their refusals are tested elsewhere

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, who=st.sampled_from(sorted(tokens)))
            def probe(case: schemathesis.Case, who: str) -> None:
                kwargs = case.as_transport_kwargs(base_url=live.url)
                headers = {**(kwargs.get("headers") or {})}
                headers["Authorization"] = f"Bearer {tokens[who]}"
                response = client.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=headers,
                    params=kwargs.get("params"),
                    content=kwargs.get("data") if "json" not in kwargs else None,
                    json=kwargs.get("json"),
                )
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {kwargs['url']} {kwargs.get('params')} "
                        f"{kwargs.get('json', kwargs.get('data'))!r} -> "
                        f"{response.status_code} {response.text[:200]}"
                    )

            probe()
        assert failures == [], "\n".join(failures[:20])
        assert client.get("/health").status_code == 200


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
