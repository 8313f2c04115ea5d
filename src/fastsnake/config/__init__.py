"""The configuration: ``model`` is the plain, frozen, picklable data the
server runs from; ``loader`` builds it from a Caddyfile, with one module per
directive family (``global_options``, ``routes``, ``python``, ``files``,
``log``, ``directives``) and the helpers they share (``args``, ``order``).

Runs once, at load time. Imports nothing from the layers above (files,
routing, apps, server). See docs/architecture.md.
"""
