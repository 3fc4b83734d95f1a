"""URL routes: the admin is the console; the API and health endpoint sit beside it."""
from django.contrib import admin
from django.urls import path

admin.site.site_header = "Attribution Ops"
admin.site.site_title = "Attribution Ops"
admin.site.index_title = "Prosper202 attribution console"

urlpatterns = [
    path("admin/", admin.site.urls),
]
