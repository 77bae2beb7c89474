"""A small order backend for the bundled bot, so its flows run end to end with no outside system.

``bot serve`` starts it in demo mode (no ``BACKEND_BASE_URL`` set) on a free
loopback port. Demo orders:

=============  ============  =====================================================
order          status        what it exercises
=============  ============  =====================================================
20231122001    shipped       tracking SF123456789012; returns allowed; address locked
20231122002    processing    not shipped; address and date can change; cancellable
20231122003    delivered     returns allowed; tracking YT1234567890123
20231122004    cancelled     refunded; nothing allowed (no return, address change or invoice)
20231122005    processing    cancellable (the Chinese cancellation script uses it)
20231122006    processing    cancellable (the English cancellation script uses it)
=============  ============  =====================================================

Shipments: SF123456789012 (SF Express, in transit, arriving tomorrow) and
YT1234567890123 (YTO, delivered).

It answers in codes, as a real backend does, never in one language's words:
order ``status``, ``carrier``, item ``sku``, shipment ``status``/``eta``/``latest``,
return ``instructions`` and error ``code``. The bot's ``responses.yml`` labels
turn them into each conversation's language.

Endpoints (JSON in, JSON out; errors are ``{"error": "...", "code": "..."}``):
``GET /orders/{id}``, ``GET /shipments/{tracking_no}``, ``POST /orders/{id}/address``
``{address?, date?}``, ``POST /orders/{id}/returns`` ``{reason?}``,
``POST /orders/{id}/cancel``, ``POST /invoices`` ``{order_id, invoice_title, tax_id?}``,
``GET /healthz``. Unknown ids answer 404, a body that is not a JSON object or has a
bad field 400, a request the order's state forbids 409. Each running backend keeps
its own copy of the orders, so a cancellation changes that backend only.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dialog.demo_data import ORDERS, SHIPMENTS

ORDERS_KEY = web.AppKey("orders", dict)
_ids = itertools.count(1001)


def _err(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(  # noqa: B904 - aiohttp's answer, not a chained error
            text='{"error": "body must be JSON"}', content_type="application/json"
        )
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text='{"error": "body must be an object"}', content_type="application/json"
        )
    return data


def _text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string field of the body; a missing required one or a non-string is a 400."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad_request(f"{name} is required")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 200:
        raise _bad_request(f"{name} must be text of at most 200 characters")
    return str(value).strip()


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": message, "code": "bad_request"}),
        content_type="application/json",
    )


def _orders(request: web.Request) -> dict[str, dict[str, Any]]:
    return request.app[ORDERS_KEY]


def _no_order() -> web.Response:
    return _err(404, "order_not_found", "no such order")


async def get_order(request: web.Request) -> web.Response:
    order = _orders(request).get(request.match_info["order_id"])
    if order is None:
        return _no_order()
    return web.json_response({"order_id": request.match_info["order_id"], **order})


async def get_shipment(request: web.Request) -> web.Response:
    shipment = SHIPMENTS.get(request.match_info["tracking_no"].upper())
    if shipment is None:
        return _err(404, "shipment_not_found", "no such shipment")
    return web.json_response({"tracking_no": request.match_info["tracking_no"].upper(), **shipment})


async def change_address(request: web.Request) -> web.Response:
    order = _orders(request).get(request.match_info["order_id"])
    body = await _body(request)
    if order is None:
        return _no_order()
    address, date = _text_field(body, "address"), _text_field(body, "date")
    if not (address or date):
        raise _bad_request("address or date needed")
    if not order["can_change_address"]:
        return _err(409, "not_changeable", "the order has shipped or is closed")
    if address:
        order["address"] = address
    return web.json_response({"ok": True, "address": address, "date": date})


async def create_return(request: web.Request) -> web.Response:
    order = _orders(request).get(request.match_info["order_id"])
    body = await _body(request)
    if order is None:
        return _no_order()
    reason = _text_field(body, "reason")
    if not order["can_return"]:
        return _err(409, "not_returnable", "the order's state allows no return")
    return web.json_response(
        {
            "return_id": f"R{next(_ids)}",
            "refund_amount": order["amount"],
            "reason": reason or "",
            "instructions": "ship_back_7d",
        }
    )


async def cancel_order(request: web.Request) -> web.Response:
    order = _orders(request).get(request.match_info["order_id"])
    if order is None:
        return _no_order()
    if not order["can_cancel"]:
        return _err(409, "not_cancellable", "only orders that have not shipped can be cancelled")
    closed = {"can_cancel": False, "can_change_address": False, "can_invoice": False}
    order.update(status="cancelled", refunded=True, **closed)
    return web.json_response({"ok": True, "status": "cancelled", "refund_amount": order["amount"]})


async def create_invoice(request: web.Request) -> web.Response:
    body = await _body(request)
    order_id = _text_field(body, "order_id", required=True)
    title = _text_field(body, "invoice_title", required=True)
    _text_field(body, "tax_id")
    order = _orders(request).get(str(order_id))
    if order is None:
        return _no_order()
    if not order["can_invoice"]:
        return _err(409, "not_invoiceable", "a cancelled order gets no invoice")
    del title  # validated; the demo keeps no invoices
    return web.json_response({"request_id": f"INV{next(_ids)}", "status": "submitted"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    """The aiohttp application."""
    app = web.Application(client_max_size=64 * 1024)
    app[ORDERS_KEY] = copy.deepcopy(ORDERS)
    app.router.add_get("/orders/{order_id}", get_order)
    app.router.add_get("/shipments/{tracking_no}", get_shipment)
    app.router.add_post("/orders/{order_id}/address", change_address)
    app.router.add_post("/orders/{order_id}/returns", create_return)
    app.router.add_post("/orders/{order_id}/cancel", cancel_order)
    app.router.add_post("/invoices", create_invoice)
    app.router.add_get("/healthz", healthz)
    return app


@dataclass
class DemoBackend:
    """A running demo backend."""

    runner: web.AppRunner
    base_url: str

    async def stop(self) -> None:
        """Shut it down."""
        await self.runner.cleanup()


async def start_demo_backend(*, host: str = "127.0.0.1", port: int = 0) -> DemoBackend:
    """Start on ``host:port`` (0: a free port) inside the running event loop."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return DemoBackend(runner, f"http://{host}:{bound}")
