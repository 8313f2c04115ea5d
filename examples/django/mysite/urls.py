"""URLs: the guestbook, and the collected static files.

fastsnake has no ``file_server`` directive yet, so Django serves /static/
itself with ``django.views.static.serve``, whatever DEBUG says (the
``static()`` helper only works with DEBUG on). Run ``manage.py
collectstatic`` first. Once fastsnake has ``file_server``, a Caddyfile
route for /static/* will replace this pattern.
"""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve
from guestbook import views

urlpatterns = [
    path("", views.index, name="index"),
    path("sign/", views.sign, name="sign"),
    path("forget/", views.forget, name="forget"),
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
]
