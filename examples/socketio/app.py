"""A Socket.IO chat with rooms, served as an ASGI app.

Events a client emits (each is acknowledged with a reply):

    join  {"room": "...", "name": "..."}  enter a room; the room hears "notice"
    leave {"room": "..."}                 leave it
    say   {"room": "...", "text": "..."}  everyone in the room hears "message"

``/`` serves index.html, a browser client.
"""

from __future__ import annotations

import socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio, static_files={"/": "index.html"})


def clean(value: object, limit: int) -> str:
    return str(value or "").strip()[:limit]


@sio.event
async def connect(sid, environ, auth):
    await sio.save_session(sid, {"name": "anonymous"})


@sio.event
async def join(sid, data):
    room = clean(data.get("room"), 40)
    if not room:
        return {"error": "a room name is required"}
    name = clean(data.get("name"), 40) or "anonymous"
    await sio.save_session(sid, {"name": name})
    await sio.enter_room(sid, room)
    await sio.emit("notice", {"room": room, "text": f"{name} joined"}, room=room)
    return {"joined": room}


@sio.event
async def leave(sid, data):
    room = clean(data.get("room"), 40)
    if room not in sio.rooms(sid):
        return {"error": f"not in {room!r}"}
    await sio.leave_room(sid, room)
    session = await sio.get_session(sid)
    await sio.emit("notice", {"room": room, "text": f"{session['name']} left"}, room=room)
    return {"left": room}


@sio.event
async def say(sid, data):
    room = clean(data.get("room"), 40)
    text = clean(data.get("text"), 500)
    if room not in sio.rooms(sid):
        return {"error": f"join {room!r} first"}
    if not text:
        return {"error": "empty message"}
    session = await sio.get_session(sid)
    await sio.emit("message", {"room": room, "name": session["name"], "text": text}, room=room)
    return {"sent": True}
