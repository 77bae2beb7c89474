"""The demo backend's orders and shipments, in codes (see :mod:`dialog.demo_backend`)."""

from __future__ import annotations

from typing import Any


def _order(status: str, items: list[tuple[str, int]], amount: float, **rest: Any) -> dict[str, Any]:
    open_ = status == "processing"
    return {
        "status": status,
        "items": [{"sku": sku, "qty": qty} for sku, qty in items],
        "amount": amount,
        "tracking_no": None,
        "carrier": None,
        "can_change_address": open_,
        "can_cancel": open_,
        "can_return": status in ("shipped", "delivered"),
        "can_invoice": status != "cancelled",
        "refunded": status == "cancelled",  # a cancelled order's money has gone back
        **rest,
    }


ORDERS: dict[str, dict[str, Any]] = {
    "20231122001": _order(
        "shipped",
        [("earbuds", 1)],
        299.0,
        created_at="2023-11-20 10:15:00",
        address="上海市浦东新区世纪大道100号",
        tracking_no="SF123456789012",
        carrier="SF",
    ),
    "20231122002": _order(
        "processing",
        [("thermos", 2), ("canvas_bag", 1)],
        158.0,
        created_at="2023-11-22 09:30:00",
        address="北京市朝阳区建国路88号",
    ),
    "20231122003": _order(
        "delivered",
        [("sneakers", 1)],
        459.0,
        created_at="2023-11-15 20:41:00",
        address="杭州市西湖区文三路478号",
        tracking_no="YT1234567890123",
        carrier="YTO",
    ),
    "20231122004": _order(
        "cancelled",
        [("desk_lamp", 1)],
        89.0,
        created_at="2023-11-21 14:02:00",
        address="广州市天河区体育西路191号",
    ),
    "20231122005": _order(
        "processing",
        [("usb_cable", 1)],
        39.9,
        created_at="2023-11-22 11:05:00",
        address="深圳市南山区科技园路1号",
    ),
    "20231122006": _order(
        "processing",
        [("umbrella", 1)],
        69.0,
        created_at="2023-11-22 12:40:00",
        address="成都市武侯区天府大道1700号",
    ),
}
SHIPMENTS: dict[str, dict[str, Any]] = {
    "SF123456789012": {
        "carrier": "SF",
        "status": "in_transit",
        "delivered": False,
        "eta": "tomorrow",
        "latest": "arrived_shanghai_hub",
        "events": [{"time": "2023-11-22 20:10", "location": "shanghai", "code": "arrived_hub"}],
    },
    "YT1234567890123": {
        "carrier": "YTO",
        "status": "delivered",
        "delivered": True,
        "eta": None,
        "latest": "signed_by_recipient",
        "events": [{"time": "2023-11-20 15:02", "location": "hangzhou", "code": "signed"}],
    },
}
