"""Nothing under /agent answers without a session; sign-in is guarded and limited."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Route

from adapters.agent_console.agents import MAX_FAILS_ACCOUNT
from tests.agent_console.support import add_agent, agent, console_replica, post, sign_in


def _console_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    app = client._transport.app  # type: ignore[attr-defined]
    found = []
    for route in app.router.routes:
        if isinstance(route, Route) and route.path.startswith("/agent"):
            path = route.path.replace("{ticket}", "ANYID")
            found.extend(
                (method, path) for method in sorted(route.methods or ()) if method != "HEAD"
            )
    return found


async def test_every_route_but_sign_in_refuses_anonymous_requests(make_runtime) -> None:
    _rt, client = await console_replica(make_runtime)
    routes = _console_routes(client)
    assert len(routes) >= 11  # the page, the stream and every API route are in the list
    for method, path in routes:
        response = await client.request(method, path, json={"text": "hi"})
        if path == "/agent/login":
            assert response.status_code in (200, 303), (method, path)
            assert "set-cookie" not in response.headers or method == "GET"
        elif path == "/agent":
            assert response.status_code == 303 and response.headers["location"] == "/agent/login"
        else:
            assert response.status_code == 401, (method, path)
            assert response.json() == {"error": "signed_out"}


async def test_a_post_without_the_csrf_token_changes_nothing(make_runtime, wechat) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    csrf = await agent(client, "alice")
    ticket = await rt.route.handoff.tickets.create(
        conversation="web:local:c1",
        address={"platform": "web", "conversation_id": "c1", "user_id": "c1", "account": "local"},
        reason="human_agent",
        summary={},
        transcript=[],
    )
    refused = await client.post(f"/agent/api/tickets/{ticket.id}/claim")
    assert refused.status_code == 403 and refused.json() == {"error": "csrf"}
    wrong = await post(client, csrf[::-1], f"/tickets/{ticket.id}/claim")
    assert wrong.status_code == 403
    assert (await rt.route.handoff.tickets.get(ticket.id)).status == "pending"
    assert (await post(client, csrf, f"/tickets/{ticket.id}/claim")).status_code == 200


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    response = await sign_in(client, "alice")
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "csbot_agent=" in v
    )
    assert re.search(r"HttpOnly", cookie, re.I) and re.search(r"SameSite=strict", cookie, re.I)
    assert "Path=/agent" in cookie and "Secure" not in cookie  # plain http here
    csrf = (await client.get("/agent/api/me")).json()["csrf"]
    assert (await client.get("/agent")).status_code == 200
    assert (await post(client, csrf, "/logout")).status_code == 200
    client.cookies.set("csbot_agent", response.cookies["csbot_agent"], path="/agent")
    assert (await client.get("/agent/api/me")).status_code == 401  # the old token is dead


async def test_cookie_is_secure_over_https(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    secure = httpx.AsyncClient(transport=client._transport, base_url="https://bot")
    response = await sign_in(secure, "alice")
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "csbot_agent=" in v
    )
    assert "Secure" in cookie


async def test_sign_in_form_needs_its_own_token(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    forged = await client.post(
        "/agent/login", data={"name": "alice", "password": "correct horse battery", "csrf": "x"}
    )
    assert forged.headers["location"] == "/agent/login?error=csrf"
    assert (await client.get("/agent/api/me")).status_code == 401


async def test_failed_sign_ins_lock_the_account_then_the_address(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    for _ in range(MAX_FAILS_ACCOUNT):
        assert (await sign_in(client, "alice", "wrong password")).headers[
            "location"
        ] == "/agent/login?error=bad"
    # now even the right password is refused for this account
    locked = await sign_in(client, "alice")
    assert locked.headers["location"] == "/agent/login?error=locked"
    assert (await client.get("/agent/api/me")).status_code == 401
    # another account from the same address still signs in (the address has room left)
    await add_agent(rt, "bob")
    assert (await sign_in(client, "bob")).headers["location"] == "/agent"


async def test_a_removed_agent_is_signed_out_at_once(make_runtime) -> None:
    from adapters.agent_console import agent_store

    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    await agent(client, "alice")
    assert (await client.get("/agent/api/tickets")).status_code == 200
    assert await agent_store(rt.host("console")).remove("alice")
    assert (await client.get("/agent/api/tickets")).status_code == 401
