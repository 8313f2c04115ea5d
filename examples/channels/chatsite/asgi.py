"""The ASGI app the Caddyfile names: Django for HTTP, the chat for WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set Django up before anything imports models or consumers.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_http,
    # Refuse WebSockets opened by pages of other sites (their Origin is not
    # in ALLOWED_HOSTS): the browser sends cookies along with them.
    "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
})
