"""The control API's access rule: loopback-only unless a token is set, and then the token on every request.

The token comes as `Authorization: Bearer <token>` or, for what a browser cannot give headers to
(EventSource, the page's own asset links), as `?token=<token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenRequired(Exception):
    """Listening beyond loopback without a token: refused, since the API can stop real charging sessions."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise TokenRequired(f"listening on {host} (beyond loopback) needs an API token (--api-token or settings)")


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.query.get("token")


def token_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: _Handler) -> web.StreamResponse:
        given = presented_token(request)
        # compare_digest: the time taken must not tell how much of a guess was right.
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return web.Response(
                text=json.dumps({"error": "missing or wrong API token (Authorization: Bearer <token> or ?token=)"}),
                status=401,
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return require_token
