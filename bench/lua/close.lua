-- Ask for Connection: close on every request (keep-alive off); wrk reconnects.
wrk.headers["Connection"] = "close"
