"""The demo order backend over real HTTP: the documented demo orders, and clear 4xx errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from dialog.demo_backend import start_demo_backend


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    backend = await start_demo_backend()
    try:
        async with httpx.AsyncClient(base_url=backend.base_url, timeout=5) as http:
            yield http
    finally:
        await backend.stop()


async def test_health_and_shipped_order(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"ok": True}
    order = (await client.get("/orders/20231122001")).json()
    assert order["order_id"] == "20231122001"
    assert order["status"] == "shipped"
    assert order["tracking_no"] == "SF123456789012" and order["carrier"] == "SF"
    assert order["items"] == [{"sku": "earbuds", "qty": 1}]
    for field in ("amount", "created_at", "address", "can_change_address", "can_return"):
        assert field in order, field


async def test_shipment_events_and_case_insensitive_number(client: httpx.AsyncClient) -> None:
    shipment = (await client.get("/shipments/sf123456789012")).json()
    assert shipment["tracking_no"] == "SF123456789012"
    assert shipment["eta"] == "tomorrow" and shipment["status"] == "in_transit"
    assert {"time", "location", "code"} <= set(shipment["events"][0])


async def test_unknown_ids_are_404_json(client: httpx.AsyncClient) -> None:
    for path in ("/orders/99999999999", "/shipments/SF000000000000"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] and response.json()["code"].endswith("not_found")


async def test_address_change_allowed_only_before_shipping(client: httpx.AsyncClient) -> None:
    ok = await client.post(
        "/orders/20231122002/address", json={"address": "北京市海淀区中关村大街1号", "date": "明天"}
    )
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "address": "北京市海淀区中关村大街1号", "date": "明天"}
    shipped = await client.post("/orders/20231122001/address", json={"date": "明天"})
    assert shipped.status_code == 409 and shipped.json()["code"] == "not_changeable"


async def test_return_gives_id_refund_and_instructions(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders/20231122003/returns", json={"reason": "尺码不合适"})
    assert response.status_code == 200
    body = response.json()
    assert body["return_id"].startswith("R") and body["refund_amount"] == 459.0
    assert body["instructions"] == "ship_back_7d"
    refused = await client.post("/orders/20231122004/returns", json={"reason": "不想要了"})
    assert refused.status_code == 409


async def test_invoice_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/invoices", json={"order_id": "20231122003", "invoice_title": "小美科技有限公司"}
    )
    assert response.status_code == 200
    assert response.json()["request_id"].startswith("INV")
    cancelled = await client.post(
        "/invoices", json={"order_id": 20231122004, "invoice_title": "个人"}
    )
    assert cancelled.status_code == 409


async def test_cancelling_an_unshipped_order_changes_its_state_once(
    client: httpx.AsyncClient,
) -> None:
    shipped = await client.post("/orders/20231122001/cancel")
    assert shipped.status_code == 409 and shipped.json()["code"] == "not_cancellable"
    done = await client.post("/orders/20231122005/cancel")
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    order = (await client.get("/orders/20231122005")).json()
    assert order["status"] == "cancelled" and not order["can_cancel"]
    again = await client.post("/orders/20231122005/cancel")
    assert again.status_code == 409


async def test_each_backend_keeps_its_own_orders(client: httpx.AsyncClient) -> None:
    assert (await client.post("/orders/20231122006/cancel")).status_code == 200
    other = await start_demo_backend()
    try:
        async with httpx.AsyncClient(base_url=other.base_url, timeout=5) as http:
            assert (await http.get("/orders/20231122006")).json()["status"] == "processing"
    finally:
        await other.stop()


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/orders/20231122002/address", b"not json"),
        ("/orders/20231122002/address", b"[1, 2]"),
        ("/orders/20231122002/address", b"{}"),
        ("/orders/20231122002/address", b'{"address": {"city": "x"}}'),
        ("/orders/20231122003/returns", b'{"reason": 5.5}'),
        ("/orders/20231122003/returns", b"\xff\xfe"),
        ("/invoices", b'{"order_id": "20231122003"}'),
        ("/invoices", b'{"order_id": "20231122003", "invoice_title": true}'),
        ("/invoices", '{"invoice_title": "个人"}'.encode()),
    ],
)
async def test_bad_bodies_are_400_with_a_clear_error(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    response = await client.post(
        path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"reason": "' + b"x" * 100_000 + b'"}'
    response = await client.post(
        "/orders/20231122003/returns", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
