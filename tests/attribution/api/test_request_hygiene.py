"""SPEC §8 hygiene: trailing slashes, JSON nested beyond parsing, hostile webhook URLs, and what
viewers see of webhook URLs and recorded export errors."""
import pytest
from django.urls import resolve, reverse

from attribution.api import urls
from attribution.exports import jobs
from attribution.models import AttributionModel, Export
from tests.attribution.api.conftest import error_of
from tests.attribution.api.test_permissions import _requests, conversion  # noqa: F401 (fixture)
from tests.attribution.api.test_snapshots_api import H0, HOUR

pytestmark = pytest.mark.django_db

NESTED_JSON = "[" * 3000 + "]" * 3000


def test_every_route_resolves_with_and_without_a_trailing_slash():
    for route in urls._routes:
        arguments = {name: 1 for name in route.pattern.converters}
        bare = reverse(route.name, kwargs=arguments)
        assert not bare.endswith("/")
        assert resolve(bare + "/").func is resolve(bare).func is route.callback


@pytest.mark.parametrize("request_name", ["list models", "get model", "snapshots", "metrics", "compare",
                                          "journey", "list exports", "schedule export", "rebuild"])
def test_requests_with_a_trailing_slash_answer_like_without(api, models, conversion, request_name):  # noqa: F811
    method, path, body = _requests(models, conversion)[request_name]
    client = api("manager")

    with_slash = getattr(client, method)(path + "/", body)

    assert with_slash.status_code in (200, 201, 202), with_slash.content


@pytest.mark.parametrize("method, path", [
    ("post", "/models"), ("patch", "/models/{model_id}"), ("post", "/models/{model_id}/exports"),
    ("post", "/rebuilds"), ("post", "/backfills"),
])
def test_json_nested_beyond_parsing_is_400_in_the_error_shape(api, models, method, path):
    model = models["acme_linear"]

    response = getattr(api("manager"), method)(path.format(model_id=model.model_id), NESTED_JSON)

    assert response.status_code == 400
    assert "not valid JSON" in error_of(response)["message"]
    assert AttributionModel.objects.get(pk=model.pk).model_name == "Linear" and not Export.objects.exists()


@pytest.mark.parametrize("webhook_url", ["http://[::1/", "http://a..b/hook"])
def test_a_webhook_url_that_cannot_be_sent_is_422(api, models, webhook_url):
    response = api("manager").post(
        f"/models/{models['acme_default'].model_id}/exports",
        {"start_hour": H0, "end_hour": H0 + HOUR, "webhook_url": webhook_url, "webhook_secret": "k"},
    )

    assert response.status_code == 422
    assert "webhook_url" in error_of(response)["fields"]
    assert not Export.objects.exists()


def test_viewers_see_webhook_urls_masked_and_errors_without_server_details(api, models, settings, tmp_path):
    model = models["acme_default"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.ATTRIBUTION_EXPORT_DIR = blocker / "exports"
    settings.ATTRIBUTION_WEBHOOK_ALLOW_PRIVATE = False
    scheduled = api("manager").post(f"/models/{model.model_id}/exports", {
        "start_hour": H0, "end_hour": H0 + HOUR, "webhook_secret": "k",
        "webhook_url": "http://user:pa55@localhost:9/hook?token=s3cret",
    })
    assert scheduled.status_code == 201
    jobs.process_pending_exports()  # the file cannot be written; the webhook target is refused

    listing = api("viewer").get(f"/models/{model.model_id}/exports")

    (row,) = listing.json()["data"]
    assert row["webhook_url"] == "http://localhost:9/hook?…"
    assert row["status"] == "failed" and "server log" in row["last_error"]
    text = listing.content.decode()
    for secret in ("pa55", "s3cret", str(tmp_path), "127.0.0.1", "::1"):
        assert secret not in text
    assert scheduled.json()["data"]["webhook_url"] == "http://localhost:9/hook?…"
