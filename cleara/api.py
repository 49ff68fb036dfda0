"""The HTTP API (django-ninja): one NinjaAPI, the apps' routers mounted under /api/v1/.

OpenAPI at /api/v1/openapi.json; the reference at /api/v1/docs (cleara/apidocs.py), Swagger UI at
/api/v1/docs?try=1.
"""
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from access.roles import AccessDenied
from cleara.apidocs import Reference
from cleara.auth import ApiAuthError
from incidents.errors import IncidentError, IngestRejected, IngestValidationError

api = NinjaAPI(
    title="Cleara API",
    version="1.0",
    description="Events in, incidents out: ingest, topology, incidents, stats, integrations' webhooks.",
    urls_namespace="api",
    docs=Reference(),  # the reference rendered on the server; Swagger UI with ?try=1
)


@api.exception_handler(ApiAuthError)
def _auth_error(request: HttpRequest, exc: ApiAuthError):
    return api.create_response(request, {"detail": exc.message}, status=401)


@api.exception_handler(AccessDenied)
def _denied(request: HttpRequest, exc: AccessDenied):
    return api.create_response(request, {"detail": exc.message}, status=403)


@api.exception_handler(AuthenticationError)
def _auth_missing(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(request, {"detail": "authentication required: log in, or send 'Authorization: Bearer <token>'"}, status=401)


@api.exception_handler(IngestRejected)
def _rejected(request: HttpRequest, exc: IngestRejected):
    return api.create_response(request, {"detail": exc.message}, status=exc.status)


@api.exception_handler(IngestValidationError)
def _invalid(request: HttpRequest, exc: IngestValidationError):
    return api.create_response(request, {"detail": exc.message, "errors": exc.errors}, status=400)


@api.exception_handler(IncidentError)
def _incident_error(request: HttpRequest, exc: IncidentError):
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError):
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", [])[1:]) or None, "reason": e.get("msg")} for e in exc.errors
    ]
    return api.create_response(request, {"detail": "invalid request", "errors": errors}, status=400)


def _mount() -> None:
    from incidents.api import events_router
    from incidents.api import router as incidents_router
    from integrations.api import router as integrations_router

    api.add_router("", events_router)
    api.add_router("", incidents_router)
    api.add_router("/integrations", integrations_router)
    api.add_router("/ml", "correlation.api.ml_router")


_mount()
