"""Static files: ``file_server`` (``server``), directory listings
(``browse``), and the path rules both keep (``paths``). Runs per request.
See docs/architecture.md.
"""
