"""The relay's reading of an upstream's answer: a real upstream on a Unix
socket writes a canned response, in one piece and a byte at a time; the
client side is a recorder standing in for the Channel."""

from __future__ import annotations

import asyncio

import pytest

from fastsnake.upstream.pool import UnixPool
from fastsnake.upstream.relay import Relay


class Request:
    method = b"GET"
    path = b"/x"
    query = b"a=1"
    headers = [(b"host", b"example.com"), (b"connection", b"keep-alive"),
               (b"x-private", b"forged"), (b"accept", b"*/*")]
    chunked = False
    content_length = -1
    upgrade = None
    expect_continue = False


class Recorder:
    """What the relay asks of the client's Channel, in order."""

    def __init__(self) -> None:
        self.request = Request()
        self.calls: list[tuple] = []
        self.done = asyncio.Event()

    def __getattr__(self, name):
        def record(*args):
            self.calls.append((name, *args))
            if name in ("end_response", "send_response", "abort_response", "send_error"):
                self.done.set()
            return name == "is_writable"
        return record

    def body(self) -> bytes:
        return b"".join(call[1] for call in self.calls if call[0] == "write_body")


class Target:
    private_headers = frozenset((b"x-private",))

    def __init__(self, pool: UnixPool) -> None:
        self.pool = pool
        self.finished = 0

    async def ready(self) -> UnixPool:
        return self.pool

    def pool_now(self) -> UnixPool | None:
        return None  # the first request: the relay connects

    def extra_headers(self, exchange):
        return [(b"x-added", b"1")]

    def lease(self) -> None:
        pass

    def done(self, leased: bool) -> None:
        self.finished += 1


def relay_once(tmp_path, answer: bytes, split: bool) -> tuple[Recorder, bytes, Target]:
    async def main() -> tuple[Recorder, bytes, Target]:
        received = bytearray()

        async def upstream(reader, writer) -> None:
            while b"\r\n\r\n" not in received:
                received.extend(await reader.read(65536))
            for piece in ([answer[i:i + 1] for i in range(len(answer))] if split else [answer]):
                writer.write(piece)
                await writer.drain()
            writer.close()

        path = str(tmp_path / "u.sock")
        server = await asyncio.start_unix_server(upstream, path)
        target = Target(UnixPool(asyncio.get_running_loop(), path))
        recorder = Recorder()
        relay = Relay(recorder, target)
        relay.begin()
        relay.on_body_complete()
        await asyncio.wait_for(recorder.done.wait(), 10)
        server.close()
        return recorder, bytes(received), target

    return asyncio.run(main())


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
def test_chunked_answer(tmp_path, split):
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: x\r\nX-App: 1\r\n\r\n"
              b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n")
    recorder, sent, target = relay_once(tmp_path, answer, split)
    assert recorder.calls[0] == ("start_response", b"200 OK", [(b"x-app", b"1")], -1)
    assert recorder.body() == b"hello world"
    assert recorder.calls[-1] == ("end_response",)
    assert target.finished == 1
    assert sent.startswith(b"GET /x?a=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n")
    assert b"x-added: 1\r\n" in sent and b"forged" not in sent and b"keep-alive" not in sent


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
def test_length_answer(tmp_path, split):
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!"
    recorder, _, _ = relay_once(tmp_path, answer, split)
    if recorder.calls[0][0] == "send_response":  # all there at once: one write
        assert recorder.calls[0] == ("send_response", b"404 Not Found", [], b"nope!")
    else:  # the head came before the whole body (the kernel may join the pieces)
        assert split
        assert recorder.calls[0] == ("start_response", b"404 Not Found", [], 5)
        assert recorder.body() == b"nope!"


def test_interim_answer_is_skipped(tmp_path):
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    recorder, _, _ = relay_once(tmp_path, answer, False)
    assert recorder.calls[0][:2] == ("start_response", b"204 No Content")


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",     # cut after the head
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
])
def test_a_broken_answer_is_cut(tmp_path, answer):
    recorder, _, _ = relay_once(tmp_path, answer, False)
    assert recorder.calls[-1] == ("abort_response",)


def test_nothing_back_is_502(tmp_path):
    recorder, _, _ = relay_once(tmp_path, b"", False)
    assert recorder.calls[-1][:2] == ("send_error", 502)


class PooledTarget(Target):
    """A target whose pool is ready: later relays take its idle connections."""

    def pool_now(self) -> UnixPool | None:
        return self.pool


def relay_twice(tmp_path, second: Request) -> tuple[Recorder, Recorder, list[int], UnixPool]:
    """Two relays in turn through one pool; the upstream answers the first
    request on each connection and closes the connection, silently, when a
    second request comes on it (as when its idle timeout crosses our write)."""

    async def main() -> tuple[Recorder, Recorder, list[int], UnixPool]:
        requests_per_connection: list[int] = []

        async def upstream(reader, writer) -> None:
            requests_per_connection.append(0)
            index = len(requests_per_connection) - 1
            data = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
                while b"\r\n\r\n" in data:
                    _, data = data.split(b"\r\n\r\n", 1)
                    requests_per_connection[index] += 1
                    if requests_per_connection[index] > 1:
                        writer.close()
                        return
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()

        path = str(tmp_path / "u.sock")
        server = await asyncio.start_unix_server(upstream, path)
        pool = UnixPool(asyncio.get_running_loop(), path)
        target = PooledTarget(pool)
        recorders = []
        for request in (Request(), second):
            recorder = Recorder()
            recorder.request = request
            relay = Relay(recorder, target)
            relay.begin()
            relay.on_body_complete()
            await asyncio.wait_for(recorder.done.wait(), 10)
            recorders.append(recorder)
            await asyncio.sleep(0.05)  # the answer's connection goes back to the pool
        server.close()
        return recorders[0], recorders[1], requests_per_connection, pool

    return asyncio.run(main())


def test_a_kept_alive_connection_closed_under_a_get_is_retried_once(tmp_path):
    first, second, per_connection, _ = relay_twice(tmp_path, Request())
    assert first.calls[0] == ("send_response", b"200 OK", [], b"ok")
    # The second GET went out on the pooled connection, which closed with no
    # answer; it was sent again on a new connection and answered there.
    assert second.calls[-1] == ("send_response", b"200 OK", [], b"ok")
    assert per_connection == [2, 1]


class Post(Request):
    method = b"POST"
    content_length = 0


def test_a_request_that_is_not_idempotent_is_not_sent_again(tmp_path):
    _, second, per_connection, _ = relay_twice(tmp_path, Post())
    assert second.calls[-1][:2] == ("send_error", 502)
    assert per_connection == [2]


def test_an_upstream_that_closes_after_its_answer_is_not_pooled(tmp_path):
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    _, _, target = relay_once(tmp_path, answer, False)
    assert target.pool.idle == []
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    _, _, target = relay_once(tmp_path, answer, False)
    assert len(target.pool.idle) == 1
