"""URLs: the guestbook. The collected static files (``manage.py
collectstatic`` puts them in ``staticfiles/``) are served by the Caddyfile's
``file_server`` under /static/, never by Django."""

from django.contrib import admin
from django.urls import path
from guestbook import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.index, name="index"),
    path("sign/", views.sign, name="sign"),
    path("forget/", views.forget, name="forget"),
]
