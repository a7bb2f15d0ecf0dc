"""Identity's business figure (logins by outcome, ``identity_logins_total``) rises by exactly the logins made
through the public API, under the outcome each got, as a scrape of ``/metrics`` reads it; a request refused before
any login is tried (a 422) counts nothing."""

from __future__ import annotations

import pytest

from tests.integration.common.figures import Figure

pytestmark = pytest.mark.integration
LOGINS = "identity_logins_total"


async def test_logins_are_counted_by_outcome_and_a_malformed_one_is_not(identity) -> None:
    _, phone = await identity.register("parent")
    logins = await Figure(identity.client, LOGINS).mark()
    assert set(await logins.values()) == {"success", "failure", "locked"}  # every outcome exported from the start

    async def login(identifier: str, password: str) -> int:
        r = await identity.client.post("/v1/sessions", json={"identifier": identifier, "password": password})
        return r.status_code

    assert [await login(phone, "Correct-Horse-9") for _ in range(2)] == [200, 200]
    assert await logins.rise() == {"success": 2}

    # an unknown account and a wrong password are both failures (and answer alike)
    assert await login("13900000000", "Nope-1234") == 401
    assert await login(phone, "Nope-1234") == 401
    assert await logins.rise() == {"success": 2, "failure": 2}

    # malformed requests are refused before a login is tried: nothing counted
    assert (await identity.client.post("/v1/sessions", json={"identifier": phone})).status_code == 422
    assert (await identity.client.post("/v1/sessions", content=b"{")).status_code == 422
    assert await logins.rise() == {"success": 2, "failure": 2}

    # two more failures lock the account (login_max_failures=3): the right password then gets 429, counted locked
    assert [await login(phone, "Nope-1234") for _ in range(2)] == [401, 401]
    assert await login(phone, "Correct-Horse-9") == 429
    assert await logins.rise() == {"success": 2, "failure": 4, "locked": 1}
