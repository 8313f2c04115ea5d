"""A small Flask JSON API: notes kept in memory, and a file upload endpoint.

The notes are a plain dict in this process. fastsnake runs this app with
``workers 1`` (see the Caddyfile) and a thread pool, so every request sees
the same dict and a lock keeps it consistent. With several worker processes
each would have its own dict: keep shared state in a database instead.
"""

from __future__ import annotations

import hashlib
import itertools
import threading

from flask import Flask, abort, jsonify, request

app = Flask(__name__)
# Werkzeug refuses bodies above this with 413 before reading them.
app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024

notes: dict[int, dict] = {}
next_id = itertools.count(1)
lock = threading.Lock()


def note_from_request() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        abort(400, description='send a JSON object such as {"text": "..."}')
    return {"text": data["text"], "tags": list(data.get("tags", []))}


@app.get("/")
def index():
    return jsonify(
        app="flask example",
        endpoints=["GET/POST /notes", "GET/PUT/DELETE /notes/<id>", "POST /upload"],
    )


@app.get("/notes")
def list_notes():
    with lock:
        return jsonify(sorted(notes.values(), key=lambda note: note["id"]))


@app.post("/notes")
def create_note():
    note = note_from_request()
    with lock:
        note["id"] = next(next_id)
        notes[note["id"]] = note
    return jsonify(note), 201


@app.get("/notes/<int:note_id>")
def read_note(note_id: int):
    with lock:
        note = notes.get(note_id)
    if note is None:
        abort(404)
    return jsonify(note)


@app.put("/notes/<int:note_id>")
def replace_note(note_id: int):
    note = note_from_request()
    with lock:
        if note_id not in notes:
            abort(404)
        note["id"] = note_id
        notes[note_id] = note
    return jsonify(note)


@app.delete("/notes/<int:note_id>")
def delete_note(note_id: int):
    with lock:
        if notes.pop(note_id, None) is None:
            abort(404)
    return "", 204


@app.post("/upload")
def upload():
    """Accept one or more files in a multipart/form-data body.

    Each file is hashed in 64 KiB pieces as it is read from the request
    (Werkzeug keeps large parts in a temporary file, not in memory).
    """
    received = []
    for field, storage in request.files.items(multi=True):
        digest = hashlib.sha256()
        size = 0
        while chunk := storage.stream.read(65536):
            digest.update(chunk)
            size += len(chunk)
        received.append({"field": field, "filename": storage.filename, "size": size,
                         "sha256": digest.hexdigest()})
    if not received:
        abort(400, description="no file in the request (use multipart/form-data)")
    return jsonify(files=received, form=request.form.to_dict())


@app.errorhandler(400)
@app.errorhandler(404)
@app.errorhandler(413)
def json_error(error):
    return jsonify(error=error.name, detail=error.description), error.code
