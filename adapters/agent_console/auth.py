"""Sign-in for the console: the session cookie, the CSRF check, and the guard on every route.

The cookie is HttpOnly (scripts cannot read it), SameSite=Strict (other sites'
pages never send it) and Secure when the console is served over HTTPS. Every
state-changing request must also carry the session's CSRF token in the
``X-CSRF-Token`` header; the sign-in form carries a per-form token that must
match a cookie set with the form (a double submit), since it has no session yet.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from adapters.agent_console.agents import AgentStore, Session

SESSION_COOKIE = "csbot_agent"
LOGIN_COOKIE = "csbot_agent_login"
PATH = "/agent"
Handler = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def https(request: Request) -> bool:
    """Served over HTTPS (directly, or behind a proxy uvicorn trusts)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A console cookie with the safe attributes."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=https(request),
    )


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (both non-empty)."""
    return bool(a and b) and hmac.compare_digest(a.encode(), b.encode())


def login_token() -> str:
    """A fresh token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(24)


def guarded(
    agents: AgentStore, handler: Handler, *, page: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind a session (and, for anything but GET, the CSRF token).

    Without a session an API route answers 401 and a page redirects to the
    sign-in form; a state-changing request without the right token gets 403.
    """

    async def endpoint(request: Request) -> Response:
        session = await agents.session(request.cookies.get(SESSION_COOKIE, ""))
        if session is None:
            if page:
                return RedirectResponse(f"{PATH}/login", status_code=303)
            return JSONResponse({"error": "signed_out"}, status_code=401)
        if request.method != "GET" and not same(
            request.headers.get("x-csrf-token", ""), session.csrf
        ):
            return JSONResponse({"error": "csrf"}, status_code=403)
        return await handler(request, session)

    return endpoint
