"""A FastAPI example: lifespan state, a streamed response, uploads, a WebSocket.

The Caddyfile turns ``lifespan on``, so each worker process runs ``lifespan``
below once at startup and once at shutdown. What it yields becomes the
lifespan state, readable in every request as ``request.state``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, File, Form, Query, Request, UploadFile, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.websockets import WebSocketDisconnect
from pydantic import BaseModel


def log(message: str) -> None:
    print(f"fastapi example [{os.getpid()}]: {message}", file=sys.stderr, flush=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict]:
    # Open connection pools, load models, ... here, once per worker process.
    log("startup")
    yield {"started": time.time(), "pid": os.getpid(), "hits": {"count": 0}}
    # And close them here.
    log("shutdown")


app = FastAPI(title="fastsnake FastAPI example", lifespan=lifespan)


class Document(BaseModel):
    title: str
    body: str


@app.get("/")
async def index(request: Request) -> dict:
    # The state dict is copied per request, but the objects in it are shared.
    hits = request.state.hits
    hits["count"] += 1
    return {
        "worker_pid": request.state.pid,
        "uptime_s": round(time.time() - request.state.started, 3),
        "hits_on_this_worker": hits["count"],
    }


@app.post("/documents")
async def create_document(doc: Document) -> dict:
    return {"title": doc.title, "length": len(doc.body),
            "sha256": hashlib.sha256(doc.body.encode()).hexdigest()}


@app.get("/stream")
async def stream(count: Annotated[int, Query(ge=1, le=100_000)] = 10,
                 delay: Annotated[float, Query(ge=0, le=5)] = 0.0) -> StreamingResponse:
    """Plain text, one line at a time: ``count`` lines, ``delay`` seconds apart."""

    async def lines() -> AsyncIterator[str]:
        sent = 0
        try:
            for i in range(count):
                yield f"line {i}: {'.' * 64}\n"
                sent += 1
                await asyncio.sleep(delay)
        finally:
            # Also runs when the client goes away half-way: fastsnake then
            # tells the app (http.disconnect) and the generator is closed.
            log(f"stream ended after {sent} of {count} lines")

    return StreamingResponse(lines(), media_type="text/plain")


@app.post("/upload")
async def upload(file: Annotated[UploadFile, File()],
                 note: Annotated[str, Form()] = "") -> dict:
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {"filename": file.filename, "content_type": file.content_type, "size": size,
            "sha256": digest.hexdigest(), "note": note}


@app.websocket("/ws")
async def totals(websocket: WebSocket) -> None:
    """Send numbers as JSON ({"add": 5}); the reply is the running total."""
    await websocket.accept()
    total = 0
    try:
        while True:
            message = await websocket.receive_json()
            if not isinstance(message, dict) or not isinstance(message.get("add"), int):
                await websocket.send_json({"error": 'send {"add": <integer>}'})
                continue
            total += message["add"]
            await websocket.send_json({"total": total})
    except WebSocketDisconnect as exc:
        log(f"websocket closed with code {exc.code}; total was {total}")
