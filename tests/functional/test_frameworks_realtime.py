"""Channels and python-socketio (from the package index) on a real fastsnake."""

from __future__ import annotations

import concurrent.futures
import json
import textwrap
import threading

import pytest

CHANNELS_FILES = {
    "chatsite/__init__.py": "",
    "chatsite/settings.py": '''
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        INSTALLED_APPS = ["channels"]
        ROOT_URLCONF = "chatsite.urls"
        ASGI_APPLICATION = "chatsite.asgi.application"
        CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        DATABASES = {}
        USE_TZ = True
    ''',
    "chatsite/urls.py": '''
        from django.http import HttpResponse
        from django.urls import path

        urlpatterns = [path("ping/", lambda request: HttpResponse("pong"))]
    ''',
    "chatsite/consumers.py": '''
        from channels.generic.websocket import AsyncJsonWebsocketConsumer

        class Echo(AsyncJsonWebsocketConsumer):
            async def connect(self):
                self.room = self.scope["url_route"]["kwargs"]["room"]
                await self.channel_layer.group_add(self.room, self.channel_name)
                await self.accept()

            async def disconnect(self, code):
                await self.channel_layer.group_discard(self.room, self.channel_name)

            async def receive_json(self, content):
                await self.channel_layer.group_send(
                    self.room, {"type": "chat.message", "text": content["text"]})

            async def chat_message(self, event):
                await self.send_json({"text": event["text"], "room": self.room})
    ''',
    "chatsite/asgi.py": '''
        import os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
        from django.core.asgi import get_asgi_application
        django_app = get_asgi_application()

        from channels.routing import ProtocolTypeRouter, URLRouter
        from django.urls import path
        from chatsite.consumers import Echo

        application = ProtocolTypeRouter({
            "http": django_app,
            "websocket": URLRouter([path("ws/<str:room>/", Echo.as_asgi())]),
        })
    ''',
}

SOCKETIO_APP = '''
import socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio)


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "joined " + room


@sio.event
async def shout(sid, data):
    await sio.emit("heard", {"from": sid, "text": data["text"]}, room=data["room"])
    return "ok"
'''

CADDYFILE = """
{
    grace_period 1s
}
:$PORT {
    python {
        module_asgi "%s"
        working_dir site
        workers 1
    }
}
"""


def write_files(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_channels_consumer_over_websocket(serve, tmp_path):
    pytest.importorskip("channels")
    from websockets.sync.client import connect

    write_files(tmp_path / "site", CHANNELS_FILES)
    server = serve(CADDYFILE % "chatsite.asgi:application")
    import requests

    assert requests.get(server.base_url + "/ping/", timeout=10).text == "pong"
    url = f"ws://127.0.0.1:{server.port}/ws/lobby/"
    with connect(url) as alice, connect(url) as bob:
        alice.send(json.dumps({"text": "hi bob"}))
        assert json.loads(bob.recv(timeout=10)) == {"text": "hi bob", "room": "lobby"}
        assert json.loads(alice.recv(timeout=10)) == {"text": "hi bob", "room": "lobby"}


def test_socketio_many_clients_join_and_emit(serve, tmp_path):
    socketio = pytest.importorskip("socketio")
    write_files(tmp_path / "site", {"sio.py": SOCKETIO_APP})
    server = serve(CADDYFILE % "sio:app")
    clients = 20
    heard: list[int] = []
    lock = threading.Lock()
    everyone_heard = threading.Event()

    def client(n: int) -> str:
        sio = socketio.Client(reconnection=False)

        @sio.on("heard")
        def on_heard(data):
            with lock:
                heard.append(n)
                if len(heard) == clients * clients:
                    everyone_heard.set()

        sio.connect(server.base_url, transports=["websocket"], wait_timeout=10)
        try:
            assert sio.call("join", "room1", timeout=10) == "joined room1"
            return sio.sid, sio
        except BaseException:
            sio.disconnect()
            raise

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        connected = list(pool.map(client, range(clients)))
    try:
        for _, sio in connected:
            assert sio.call("shout", {"room": "room1", "text": "hello"}, timeout=10) == "ok"
        assert everyone_heard.wait(30), f"heard {len(heard)} of {clients * clients}"
    finally:
        for _, sio in connected:
            sio.disconnect()
    # Long-polling (the Engine.IO default) works too.
    polling = socketio.Client(reconnection=False)
    polling.connect(server.base_url, transports=["polling"], wait_timeout=10)
    assert polling.call("join", "room2", timeout=10) == "joined room2"
    # (No polling.disconnect(): the client library waits out its 30 s long
    # poll there, against uvicorn too; stopping the server ends it.)
