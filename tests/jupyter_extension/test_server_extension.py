"""The extension inside Jupyter: dashboard page, page config, /metrics, audit events, sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from typing import Any

import terrarium
from jupyter_extension.app import AUDIT_SCHEMA_ID, TerrariumApp
from jupyter_extension.wire import OBSERVER_SNDBUF, WebSocketObserver, stream_of
from terrarium.registry import AgentRegistry
from tests.jupyter_extension.helpers import Gateway, is_type, receive, until

#: CPython 3.11's limit on a shared attribute table (SHARED_KEYS_MAX_SIZE 30, less one).
SHARED_KEYS_MAX = 29
#: A shared table's values take under 400 bytes here; a private one 1,584.
SPLIT_TABLE_BYTES = 1024


async def test_dashboard_page_is_served_as_html(gateway: Gateway, jp_base_url: str) -> None:
    for path in (gateway.path(""), gateway.base_url + "terrarium"):
        reply = await gateway.fetch(path, auth=False)

        assert reply.code == 200, path
        assert reply.headers["Content-Type"].startswith("text/html")
        assert "<html" in reply.body.lower()
        assert json.dumps(jp_base_url) in reply.body  # the page knows the escaped base_url


async def test_page_config_carries_the_terrarium_marker(jp_serverapp: Any) -> None:
    marker = jp_serverapp.web_app.settings["page_config_data"]["terrarium"]

    assert marker == {"version": terrarium.__version__, "protocol": 1}


async def test_jupyter_metrics_export_the_agents_gauges(gateway: Gateway) -> None:
    await gateway.post("api", "agents", "echo", "perturb", body={"data": 1})

    reply = await gateway.fetch(gateway.base_url + "metrics", auth=True)
    anonymous = await gateway.fetch(gateway.base_url + "metrics", auth=False)

    assert reply.code == 200
    lines = reply.body.splitlines()
    assert 'terrarium_agent_pressure{agent="echo"} 0.0' in lines
    assert 'terrarium_agent_seq{agent="echo"} 3.0' in lines
    assert 'terrarium_agent_events_total{agent="echo"} 1.0' in lines
    assert 'terrarium_agent_queue_depth{agent="gate"} 0.0' in lines
    assert anonymous.code == 403


async def test_accepted_perturbations_emit_an_audit_event(
    gateway: Gateway, jp_serverapp: Any
) -> None:
    records: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        records.put_nowait((schema_id, dict(data)))

    jp_serverapp.event_logger.add_listener(schema_id=AUDIT_SCHEMA_ID, listener=listener)
    watch, _ = await gateway.observe_hello("echo")
    beam = await gateway.beam("echo")
    beam.write_message(json.dumps({"id": "refused", "priority": 0, "data": 1}))
    beam.write_message(json.dumps({"id": "ws", "data": 1, "priority": 42}))
    assert (await receive(beam) or {}).get("code") == "bad_request"
    ws_reply = await receive(beam)
    rest_reply = await gateway.post("api", "agents", "echo", "perturb", body={"data": 2})
    perturbations = [
        frame for frame in await until(watch, is_type("result")) if frame["type"] == "perturbation"
    ]

    ws_schema, ws_record = await asyncio.wait_for(records.get(), 10)
    rest_schema, rest_record = await asyncio.wait_for(records.get(), 10)

    assert ws_reply is not None
    assert ws_schema == rest_schema == AUDIT_SCHEMA_ID
    assert ws_record == {
        "agent_id": "echo",
        "perturbation_id": ws_reply["perturbation_id"],
        "priority": 42,
        "by": perturbations[0]["data"]["by"],
        "via": "websocket",
    }
    assert isinstance(ws_record["by"], str) and ws_record["by"]
    assert rest_record["via"] == "rest"
    assert rest_record["agent_id"] == "echo"
    assert rest_record["perturbation_id"] == rest_reply.body["perturbation_id"]
    assert rest_record["priority"] == 100
    assert isinstance(rest_record["by"], str) and rest_record["by"]
    assert records.empty()
    jp_serverapp.event_logger.remove_listener(listener=listener)


async def test_observers_write_to_their_handlers_own_capped_stream(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    ws, _ = await gateway.observe_hello("echo")
    mirror = registry.get("echo").mirror

    (observer,) = list(mirror._cursors)

    assert isinstance(observer, WebSocketObserver)
    stream = stream_of(observer._handler())  # type: ignore[arg-type]
    assert stream is observer._stream
    assert stream.socket is not None
    sndbuf = stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert OBSERVER_SNDBUF <= sndbuf <= 2 * OBSERVER_SNDBUF
    ws.close()
    while await receive(ws) is not None:
        pass  # what was already on its way
    assert mirror.observer_count == 0


async def test_an_open_observe_handler_shares_its_class_attribute_table(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """CPython shares one key table among a class's instances while each holds at most
    29 attributes; a 30th gives every connection a table of its own (1.3 KiB)."""
    ws, _ = await gateway.observe_hello("echo")
    (observer,) = list(registry.get("echo").mirror._cursors)
    assert isinstance(observer, WebSocketObserver)
    handler = observer._handler()
    attributes = vars(handler)
    assert len(attributes) <= SHARED_KEYS_MAX, sorted(attributes)
    # The same measure as the 1.3 KiB: a shared table keeps only the values.
    assert sys.getsizeof(attributes) < SPLIT_TABLE_BYTES, sorted(attributes)
    # The 101's headers are gone too; only the socket's own state stays.
    assert len(handler._headers) == 0  # type: ignore[attr-defined]
    ws.close()


async def test_a_token_authenticated_observer_leaves_the_key_table_shared(
    gateway: Gateway, registry: AgentRegistry
) -> None:
    """Jupyter's token login marks its handler with two more attributes; kept on the
    request, they do not push later observers out of the shared table (regression:
    one authenticated observer cost every later connection 1.3 KiB)."""
    first = await gateway.observe("echo", auth=True)
    await receive(first)
    first.close()
    ws, _ = await gateway.observe_hello("echo", auth=True)
    handlers = [cursor._handler() for cursor in registry.get("echo").mirror._cursors]
    assert handlers and all(h is not None for h in handlers)
    for handler in handlers:
        assert sys.getsizeof(vars(handler)) < SPLIT_TABLE_BYTES, sorted(vars(handler))
    ws.close()


async def test_terrariums_logger_drops_debug_calls_itself_unless_asked_for_them(
    extension: TerrariumApp,
) -> None:
    """jupyter_server logs every successful request at debug; at the default INFO the
    logger refuses those calls before a record is built, and a DEBUG log level lets them
    through again."""
    assert not extension.log.isEnabledFor(logging.DEBUG)
    assert extension.log.isEnabledFor(logging.INFO)
    extension.log_level = logging.DEBUG
    try:
        assert extension.log.isEnabledFor(logging.DEBUG)
    finally:
        extension.log_level = logging.INFO
    assert not extension.log.isEnabledFor(logging.DEBUG)
