"""basic_auth against a real server: bcrypt hashes as Caddy's hash-password
writes them, the 401 challenge with its realm, the user placeholder, request
bodies that wait for the check, handle_errors for the 401, and password
checks that never stall the worker's other requests."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading

import bcrypt
import requests

# Caddy's documentation example: user Bob, password "hiccup", cost 14.
CADDY_DOCS_HASH = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"


def hashed(password: str, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def site(accounts: str, extra: str = "") -> str:
    return (":$PORT {\n"
            "\thandle /public {\n\t\trespond \"public\"\n\t}\n"
            "\tbasic_auth /app/* bcrypt \"Staff only\" {\n" + accounts + "\t}\n"
            "\thandle_path /app/* {\n\t\tpython {\n\t\t\tmodule_wsgi wsgi_basic:app\n"
            "\t\t\tworking_dir \"$APPS\"\n\t\t}\n\t}\n"
            "\trespond /who \"user={http.auth.user.id}\"\n" + extra + "}\n")


def test_challenge_accept_and_refuse(serve):
    server = serve(site(f"\t\tBob {CADDY_DOCS_HASH}\n\t\talice {hashed('wonder')}\n"))
    url = server.base_url + "/app/hello"
    refused = requests.get(url, timeout=30)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="Staff only"'
    assert requests.get(url, auth=("Bob", "hiccup"), timeout=30).status_code == 200
    assert requests.get(url, auth=("alice", "wonder"), timeout=30).status_code == 200
    for user, password in (("Bob", "wrong"), ("nobody", "hiccup"), ("alice", "")):
        assert requests.get(url, auth=(user, password), timeout=30).status_code == 401
    # Remembered answers give the same results the second time.
    assert requests.get(url, auth=("alice", "wonder"), timeout=30).status_code == 200
    assert requests.get(url, auth=("Bob", "wrong"), timeout=30).status_code == 401
    assert requests.get(server.base_url + "/public", timeout=30).text == "public"


def test_user_placeholder_and_malformed_headers(serve):
    server = serve(site(f"\t\talice {hashed('wonder')}\n").replace(
        "respond /who", "basic_auth /who {\n\t\talice " + hashed("wonder") + "\n\t}\n"
        "\trespond /who"))
    who = requests.get(server.base_url + "/who", auth=("alice", "wonder"), timeout=30)
    assert who.text == "user=alice"
    for header in ("Basic !!!", "Bearer abc", "Basic " + base64.b64encode(b"alice").decode()):
        answer = requests.get(server.base_url + "/who", headers={"Authorization": header},
                              timeout=30)
        assert answer.status_code == 401, header


def test_a_body_waits_for_the_check_and_reaches_the_app(serve):
    server = serve(site(f"\t\talice {hashed('wonder', 8)}\n"))
    body = b"x" * 300_000
    answer = requests.post(server.base_url + "/app/digest", data=body, auth=("alice", "wonder"),
                           timeout=30)
    assert answer.status_code == 200
    import hashlib
    assert hashlib.sha256(body).hexdigest() in answer.text
    # Pipelined: two authenticated requests in one write, both answered in order.
    token = base64.b64encode(b"alice:wonder")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        request = (b"GET /app/hello HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token
                   + b"\r\n\r\n")
        sock.sendall(request + request.replace(b"GET /app/hello", b"GET /public"))
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.index(b"hello") < data.index(b"public")


def test_handle_errors_answers_the_401_and_keeps_the_challenge(serve):
    server = serve(site(f"\t\talice {hashed('wonder')}\n",
                        "\thandle_errors 401 {\n\t\trespond \"please sign in\"\n\t}\n"))
    answer = requests.get(server.base_url + "/app/hello", timeout=30)
    assert (answer.status_code, answer.text) == (401, "please sign in")
    assert answer.headers["www-authenticate"] == 'Basic realm="Staff only"'


def test_password_checks_do_not_stall_other_requests(serve):
    # Cost 13: each wrong guess costs the worker's check threads about half a second.
    server = serve(site(f"\t\talice {hashed('wonder', 13)}\n"))
    finished: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        answer = requests.get(server.base_url + "/app/hello", auth=("alice", f"guess{n}"),
                              timeout=60)
        with lock:
            finished.append(f"guess {answer.status_code}")

    guesses = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in guesses:
        thread.start()
    public = requests.get(server.base_url + "/public", timeout=60)
    with lock:
        finished.append("public")
    for thread in guesses:
        thread.join()
    # The public page was answered while most guesses were still being checked.
    assert public.text == "public"
    assert finished.index("public") < 4, finished
    assert finished.count("guess 401") == 8


def test_hash_password_command_writes_a_hash_basic_auth_takes(serve):
    done = subprocess.run([sys.executable, "-m", "fastsnake", "hash-password", "--plaintext",
                           "s3cret", "--cost", "5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = done.stdout.strip()
    assert written.startswith("$2b$05$") and bcrypt.checkpw(b"s3cret", written.encode())
    piped = subprocess.run([sys.executable, "-m", "fastsnake", "hash-password", "--cost", "4"],
                           input="from stdin\n", capture_output=True, text=True, timeout=60)
    assert bcrypt.checkpw(b"from stdin", piped.stdout.strip().encode())
    server = serve(site(f"\t\tcarol {written}\n"))
    assert requests.get(server.base_url + "/app/hello", auth=("carol", "s3cret"),
                        timeout=30).status_code == 200
