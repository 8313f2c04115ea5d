"""FastAPI and Starlette from the package index on a real fastsnake."""

from __future__ import annotations

import json
import textwrap

import pytest
import requests

FASTAPI_APP = '''
import asyncio
import contextlib
import os
import sys

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, StreamingResponse


@contextlib.asynccontextmanager
async def lifespan(app):
    print(f"fastapi startup {os.getpid()}", file=sys.stderr, flush=True)
    yield {"db": "connected"}
    print(f"fastapi shutdown {os.getpid()}", file=sys.stderr, flush=True)


app = FastAPI(lifespan=lifespan)


@app.get("/state")
async def state(request: Request):
    return {"db": request.state.db}


@app.post("/items")
async def create(item: dict):
    return {"received": item, "size": len(item.get("blob", ""))}


@app.get("/stream")
async def stream(n: int = 5):
    async def numbers():
        for i in range(n):
            yield f"line {i}\\n"
            await asyncio.sleep(0)
    return StreamingResponse(numbers(), media_type="text/plain")


@app.get("/forever")
async def forever():
    async def chunks():
        try:
            while True:
                yield b"y" * 32768
                await asyncio.sleep(0.001)
        finally:
            print("forever stream closed", file=sys.stderr, flush=True)
    return StreamingResponse(chunks())


@app.get("/file")
async def file():
    return FileResponse(__file__)


@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"echo": data})
    except WebSocketDisconnect as exc:
        print(f"fastapi ws closed {exc.code}", file=sys.stderr, flush=True)
'''

CADDYFILE = """
:$PORT {
    python {
        module_asgi "main:app"
        working_dir site
        workers 2
        lifespan on
    }
}
"""


@pytest.fixture
def fastapi_server(serve, tmp_path):
    pytest.importorskip("fastapi")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "main.py").write_text(textwrap.dedent(FASTAPI_APP))
    return serve(CADDYFILE)


def test_fastapi_lifespan_json_stream_and_file(fastapi_server, tmp_path):
    server = fastapi_server
    assert requests.get(server.base_url + "/state", timeout=10).json() == {"db": "connected"}
    blob = "z" * (4 * 1024 * 1024)
    resp = requests.post(server.base_url + "/items", json={"blob": blob, "n": 1}, timeout=30)
    assert resp.json()["size"] == len(blob)
    resp = requests.get(server.base_url + "/stream?n=20", timeout=10)
    assert resp.text == "".join(f"line {i}\n" for i in range(20))
    resp = requests.get(server.base_url + "/file", timeout=10)
    assert resp.content == (tmp_path / "site" / "main.py").read_bytes()
    assert server.stop() == 0
    assert server.log.count("fastapi startup") == 2
    assert server.log.count("fastapi shutdown") == 2


def test_fastapi_abandoned_stream_has_no_traceback(fastapi_server):
    server = fastapi_server
    with requests.get(server.base_url + "/forever", stream=True, timeout=10) as resp:
        assert len(next(resp.iter_content(65536))) > 0
    assert server.wait_for_text("forever stream closed")
    assert requests.get(server.base_url + "/state", timeout=10).status_code == 200
    assert "Traceback" not in server.log


def test_fastapi_websocket(fastapi_server):
    pytest.importorskip("websockets")
    from websockets.sync.client import connect

    server = fastapi_server
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        for i in range(20):
            ws.send(json.dumps({"i": i}))
            assert json.loads(ws.recv(timeout=10)) == {"echo": {"i": i}}
    assert server.wait_for_text("fastapi ws closed 1000")
