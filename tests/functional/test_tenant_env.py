"""Per-tenant environment of dynamic apps, as caddy-snake reads it:
placeholders in env_var values and env_file paths resolved for each tenant,
env_file from the tenant's own working_dir, and one tenant's variables (or
its writes) never seen by another tenant or by the server's static apps."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

TENANT_APP = """import os

os.environ["WRITTEN_AT_IMPORT"] = os.environ["TENANT_NAME"]

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = [os.environ.get(key, "-") for key in
            ("TENANT_NAME", "DB_URL", "WRITTEN_AT_IMPORT", "ONLY_IN_A")]
    return ["|".join(seen).encode()]
"""

STATIC_APP = """import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = [os.environ.get(key, "-") for key in ("TENANT_NAME", "DB_URL", "WRITTEN_AT_IMPORT")]
    return ["|".join(seen).encode()]
"""


@pytest.mark.parametrize("isolation", ["process", "worker"])
def test_each_tenant_sees_its_own_environment(serve, tmp_path: Path, isolation: str) -> None:
    for tenant, extra in (("alpha", "ONLY_IN_A=yes\n"), ("beta", "")):
        folder = tmp_path / "tenants" / tenant
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(TENANT_APP)
        (folder / f"{tenant}.env").write_text(f"DB_URL=postgres://db/{tenant}\n{extra}")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "plain.py").write_text(STATIC_APP)
    server = serve(f"""http://*.example.test:$PORT {{
\thandle /static {{
\t\tpython {{
\t\t\tmodule_wsgi plain:app
\t\t\tworking_dir "{tmp_path}/static"
\t\t}}
\t}}
\tpython {{
\t\tmodule_wsgi "app:app"
\t\tworking_dir "{tmp_path}/tenants/{{http.request.host.labels.2}}"
\t\tenv_var TENANT_NAME "{{http.request.host.labels.2}}_inline"
\t\tenv_file "{{http.request.host.labels.2}}.env"
\t\tworkers 1
\t}}
}}
""")

    def get(host: str, path: str = "/") -> str:
        return requests.get(server.base_url + path, headers={"Host": host}, timeout=10).text

    assert get("alpha.example.test") == "alpha_inline|postgres://db/alpha|alpha_inline|yes"
    assert get("beta.example.test") == "beta_inline|postgres://db/beta|beta_inline|-"
    assert get("alpha.example.test") == "alpha_inline|postgres://db/alpha|alpha_inline|yes"
    # Outside the tenants, the process environment is untouched.
    assert get("alpha.example.test", "/static") == "-|-|-"
