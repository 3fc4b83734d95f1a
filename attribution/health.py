"""`GET /healthz` for uptime monitors (SPEC §10): 200 when every check is ok or a warning,
503 on any error. Only check names and statuses leave the server: no details, hosts, paths or data."""
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from attribution.system_checks import ERROR, overall_status, run_checks


@never_cache
@require_GET
def healthz(request):
    results = run_checks()
    status = overall_status(results)
    return JsonResponse(
        {"status": status, "checks": [{"name": r.name, "status": r.status} for r in results]},
        status=503 if status == ERROR else 200,
    )
