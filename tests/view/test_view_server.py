"""The viewer's server without a browser: who may connect, what it sends, and that writers never wait for it."""

from __future__ import annotations

import json
import multiprocessing as mp
import struct
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _view_children import write_under_block

pytest.importorskip("starlette", reason="the view extra installs starlette")
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import shmring
from shmring.view import (
    ViewConfig,
    _catalog,
    create_app,
)

TOKEN = "s3cret"
#: Seconds a test waits for the message it wants (the server sends a status every second).
WAIT_S = 20.0


def client(shm_dir: Path, token: str | None = TOKEN, max_fps: float = 50.0) -> TestClient:
    return TestClient(create_app(ViewConfig(directory=shm_dir, legacy_dir=None, max_fps=max_fps, token=token)))


def next_message(ws: Any, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first message (frames decoded to their header) that ``wanted`` accepts; acks frames on the way."""
    seen = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        raw = ws.receive()
        if raw.get("bytes") is not None:
            length = struct.unpack("<I", raw["bytes"][:4])[0]
            message = json.loads(raw["bytes"][4 : 4 + length])
            ws.send_json({"type": "ack", "seq": message["seq"]})
        else:
            message = json.loads(raw["text"])
        if wanted(message):
            return message
        seen.append(message.get("type") + str(message.get("frames", "")))
    raise AssertionError(f"no such message within {WAIT_S} s: saw {seen}")


def test_requests_without_the_token_are_refused(shm_dir: Path) -> None:
    with client(shm_dir) as http:
        assert http.get("/api/rings").status_code == 403
        assert "token" in http.get("/").text
        assert http.get(f"/api/rings?token={TOKEN}").status_code == 200
        assert http.get("/api/rings", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        with pytest.raises(WebSocketDisconnect) as refused, http.websocket_connect("/ws"):
            pass
        assert refused.value.code == 1008


def test_the_page_gets_a_cookie_that_carries_the_token(shm_dir: Path) -> None:
    with client(shm_dir) as http:
        assert http.get(f"/?token={TOKEN}").status_code == 200
        assert http.get("/api/rings").status_code == 200, "the cookie set by the page did not admit the next request"


def test_a_websocket_from_another_origin_is_refused(shm_dir: Path) -> None:
    with client(shm_dir, token=None) as http:
        with pytest.raises(WebSocketDisconnect) as refused, http.websocket_connect(
                "/ws", headers={"Origin": "http://evil.example"}):
            pass
        assert refused.value.code == 1008


def test_frames_flow_after_select_and_bad_requests_are_named(shm_dir: Path, unique_name: str) -> None:
    with shmring.Ring.create(unique_name, slots=4, dtype=np.uint16, shape=(8, 10)) as ring, ring.writer() as w, \
            client(shm_dir, token=None) as http, http.websocket_connect("/ws") as ws:
        for seq in range(3):
            w.put(np.full((8, 10), seq, np.uint16), meta={"N": seq})
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "select", "ring": "no-such-ring"})
        assert "no ring 'no-such-ring'" in next_message(ws, lambda m: m["type"] == "problem")["message"]
        ws.send_text("{not json")
        assert "Expecting property name" in next_message(ws, lambda m: m["type"] == "problem")["message"]
        ws.send_json({"type": "stretch", "limits": "median"})
        assert "limits must be one of" in next_message(ws, lambda m: m["type"] == "problem")["message"]
        ws.send_json({"type": "select", "ring": unique_name})
        frame = next_message(ws, lambda m: m["type"] == "frame")
        assert (frame["seq"], frame["meta"], frame["shape"], frame["dtype"]) == (2, {"N": 2}, [8, 10], "uint16")
        w.put(np.full((8, 10), 3, np.uint16))
        assert next_message(ws, lambda m: m["type"] == "frame")["seq"] == 3
        status = next_message(ws, lambda m: m["type"] == "status")
        assert status["writer_alive"] is True and status["policy"] == "overwrite"


def test_unreadable_rings_are_not_listed(shm_dir: Path, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shmring.Ring.create(unique_name, slots=2, slot_bytes=64).close()
    shmring.Ring.create(unique_name + "-mine", slots=2, slot_bytes=64).close()
    real_open = shmring.Ring.open

    def open_as_another_user(path: Any, **kw: Any) -> shmring.Ring:
        if Path(path).name == unique_name:  # root reads every file: pretend this one is another user's
            raise shmring.SegmentPermissionError(f"{path}: permission denied")
        return real_open(path, **kw)

    monkeypatch.setattr(_catalog.Ring, "open", open_as_another_user)
    names = [row["name"] for row in _catalog.catalog(shm_dir, None)]
    assert names == [unique_name + "-mine"]


def test_a_watched_block_ring_never_waits_for_the_viewer(shm_dir: Path, unique_name: str,
                                                         spawn: Callable[..., BaseProcess]) -> None:
    count = 400
    results = mp.get_context("spawn").Queue()
    with shmring.Ring.create(unique_name, slots=2, dtype=np.uint16, shape=(256, 256), policy="block") as ring:
        with client(shm_dir, token=None, max_fps=200.0) as http, http.websocket_connect("/ws") as ws:
            ws.send_json({"type": "select", "ring": unique_name})
            writer = spawn(write_under_block, unique_name, count, 0.005, results)
            shown = [next_message(ws, lambda m: m["type"] == "frame")["seq"]]
            while writer.is_alive():  # keep the page taking frames for as long as the writer writes
                message = next_message(ws, lambda m: m["type"] in ("frame", "status"))
                if message["type"] == "frame":
                    shown.append(message["seq"])
            written = results.get(timeout=60)
            writer.join(10)
        assert written == count, f"the writer timed out after {written} of {count} frames (it waited for the viewer)"
        assert len(shown) > 1 and shown == sorted(set(shown)), f"the page was sent {shown}"
        assert not [r for r in ring.readers() if r.alive], "the viewer left a reader attached after the page closed"
