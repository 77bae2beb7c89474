"""A small order backend for the bundled bot, so its flows run end to end with no outside system.

``bot serve`` starts it in demo mode (no ``BACKEND_BASE_URL`` set) on a free
loopback port. Demo orders:

=============  ============  =====================================================
order          status        what it exercises
=============  ============  =====================================================
20231122001    shipped       tracking SF123456789012; returns allowed; address locked
20231122002    processing    not shipped; address and date can change
20231122003    delivered     returns allowed; tracking YT1234567890123
20231122004    cancelled     nothing allowed (no return, address change or invoice)
=============  ============  =====================================================

Shipments: SF123456789012 (顺丰, in transit, ETA 明天) and YT1234567890123 (圆通, delivered).

Endpoints (JSON in, JSON out; errors are ``{"error": "..."}``): ``GET /orders/{id}``,
``GET /shipments/{tracking_no}``, ``POST /orders/{id}/address`` ``{address?, date?}``,
``POST /orders/{id}/returns`` ``{reason?}``, ``POST /invoices``
``{order_id, invoice_title, tax_id?}``, ``GET /healthz``. Unknown ids answer 404, a body
that is not a JSON object or has a bad field 400, a request the order's state forbids 409.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

ORDERS: dict[str, dict[str, Any]] = {
    "20231122001": {
        "created_at": "2023-11-20 10:15:00",
        "address": "上海市浦东新区世纪大道100号",
        "status": "shipped",
        "status_text": "已发货，运输中",
        "items": ["蓝牙耳机 x1"],
        "amount": 299.0,
        "tracking_no": "SF123456789012",
        "carrier": "顺丰速运",
        "can_change_address": False,
        "can_return": True,
    },
    "20231122002": {
        "created_at": "2023-11-22 09:30:00",
        "address": "北京市朝阳区建国路88号",
        "status": "processing",
        "status_text": "仓库处理中，待发货",
        "items": ["保温杯 x2", "帆布包 x1"],
        "amount": 158.0,
        "tracking_no": None,
        "carrier": None,
        "can_change_address": True,
        "can_return": False,
    },
    "20231122003": {
        "created_at": "2023-11-15 20:41:00",
        "address": "杭州市西湖区文三路478号",
        "status": "delivered",
        "status_text": "已签收",
        "items": ["运动鞋 x1"],
        "amount": 459.0,
        "tracking_no": "YT1234567890123",
        "carrier": "圆通速递",
        "can_change_address": False,
        "can_return": True,
    },
    "20231122004": {
        "created_at": "2023-11-21 14:02:00",
        "address": "广州市天河区体育西路191号",
        "status": "cancelled",
        "status_text": "已取消",
        "items": ["台灯 x1"],
        "amount": 89.0,
        "tracking_no": None,
        "carrier": None,
        "can_change_address": False,
        "can_return": False,
    },
}
SHIPMENTS: dict[str, dict[str, Any]] = {
    "SF123456789012": {
        "carrier": "顺丰速运",
        "status": "运输中",
        "eta": "明天",
        "latest": "快件已到达【上海转运中心】",
        "events": [
            {"time": "2023-11-22 20:10", "location": "上海", "description": "已到达转运中心"}
        ],
    },
    "YT1234567890123": {
        "carrier": "圆通速递",
        "status": "已签收",
        "eta": "已送达",
        "latest": "已签收，签收人：本人",
        "events": [{"time": "2023-11-20 15:02", "location": "杭州", "description": "已签收"}],
    },
}
_ids = itertools.count(1001)


def _err(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


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
            raise _bad_request(f"需要 {name}")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 200:
        raise _bad_request(f"{name} 必须是不超过 200 字的文本")
    return str(value).strip()


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json"
    )


async def get_order(request: web.Request) -> web.Response:
    order = ORDERS.get(request.match_info["order_id"])
    if order is None:
        return _err(404, "订单不存在")
    return web.json_response({"order_id": request.match_info["order_id"], **order})


async def get_shipment(request: web.Request) -> web.Response:
    shipment = SHIPMENTS.get(request.match_info["tracking_no"].upper())
    if shipment is None:
        return _err(404, "没有这个运单")
    return web.json_response({"tracking_no": request.match_info["tracking_no"].upper(), **shipment})


async def change_address(request: web.Request) -> web.Response:
    order = ORDERS.get(request.match_info["order_id"])
    body = await _body(request)
    if order is None:
        return _err(404, "订单不存在")
    address, date = _text_field(body, "address"), _text_field(body, "date")
    if not (address or date):
        return _err(400, "需要新地址或送达日期")
    if not order["can_change_address"]:
        return _err(409, "订单已发货或已完成，无法修改")
    what = "；".join(
        part for part in (address and f"新地址：{address}", date and f"送达日期：{date}") if part
    )
    return web.json_response({"ok": True, "message": what})


async def create_return(request: web.Request) -> web.Response:
    order = ORDERS.get(request.match_info["order_id"])
    body = await _body(request)
    if order is None:
        return _err(404, "订单不存在")
    reason = _text_field(body, "reason")
    if not order["can_return"]:
        return _err(409, "该订单状态不支持退货")
    return web.json_response(
        {
            "return_id": f"R{next(_ids)}",
            "refund_amount": order["amount"],
            "reason": reason or "",
            "instructions": "请在 7 天内将商品寄回：上海市青浦区华新镇 88 号 小美商城退货部。",
        }
    )


async def create_invoice(request: web.Request) -> web.Response:
    body = await _body(request)
    order_id = _text_field(body, "order_id", required=True)
    title = _text_field(body, "invoice_title", required=True)
    _text_field(body, "tax_id")
    if order_id not in ORDERS:
        return _err(404, "订单不存在")
    if ORDERS[order_id]["status"] == "cancelled":
        return _err(409, "已取消的订单不能开发票")
    del title  # validated; the demo keeps no invoices
    return web.json_response({"request_id": f"INV{next(_ids)}", "status": "submitted"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    """The aiohttp application."""
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/orders/{order_id}", get_order)
    app.router.add_get("/shipments/{tracking_no}", get_shipment)
    app.router.add_post("/orders/{order_id}/address", change_address)
    app.router.add_post("/orders/{order_id}/returns", create_return)
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
