-- POST a 4 KiB body (the ASGI echo scenario).
wrk.method = "POST"
wrk.body = string.rep("a", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
