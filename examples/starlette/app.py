"""A Starlette example: files sent with FileResponse, work done after the response.

``POST /signup`` answers 202 at once and then "sends" a welcome mail in a
BackgroundTask: Starlette runs the task after the response is complete, so
the client does not wait for it. ``GET /outbox`` shows what was sent.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

DOWNLOADS = Path(__file__).resolve().parent / "downloads"
outbox: list[dict] = []


def log(message: str) -> None:
    print(f"starlette example [{os.getpid()}]: {message}", file=sys.stderr, flush=True)


async def index(request: Request) -> PlainTextResponse:
    names = sorted(p.name for p in DOWNLOADS.iterdir() if p.is_file())
    lines = [f"GET /download/{name}" for name in names]
    lines += ["POST /signup  (form field or JSON key: email)", "GET /outbox"]
    return PlainTextResponse("\n".join(lines) + "\n")


async def download(request: Request) -> FileResponse | PlainTextResponse:
    # Only names directly inside downloads/: no "..", no sub-folders.
    path = DOWNLOADS / request.path_params["name"]
    if path.parent != DOWNLOADS or not path.is_file():
        return PlainTextResponse("no such file\n", status_code=404)
    # FileResponse sets Content-Length, Last-Modified and an ETag, answers
    # Range requests with 206, and sends the file in chunks.
    return FileResponse(path, filename=path.name)


async def send_welcome(email: str) -> None:
    await asyncio.sleep(0.5)  # a slow mail server
    outbox.append({"to": email, "subject": "Welcome!"})
    log(f"welcome mail sent to {email}")


async def signup(request: Request) -> JSONResponse:
    if request.headers.get("content-type", "").startswith("application/json"):
        email = (await request.json()).get("email", "")
    else:
        email = (await request.form()).get("email", "")
    if not isinstance(email, str) or "@" not in email:
        return JSONResponse({"error": "an email address is required"}, status_code=400)
    task = BackgroundTask(send_welcome, email)
    return JSONResponse({"status": "accepted", "email": email}, status_code=202,
                        background=task)


async def show_outbox(request: Request) -> JSONResponse:
    return JSONResponse(outbox)


app = Starlette(routes=[
    Route("/", index),
    Route("/download/{name}", download),
    Route("/signup", signup, methods=["POST"]),
    Route("/outbox", show_outbox),
])
