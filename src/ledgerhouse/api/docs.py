"""The OpenAPI pages, /docs (Swagger UI) and /redoc, served with their own files: FastAPI's
pages load Swagger UI and ReDoc from a CDN, which leaves /docs blank on a network without
internet. The files come with the ``fastapi-offline`` package (Swagger UI 5, which reads the
OpenAPI 3.1 document FastAPI writes, and ReDoc 2), mounted under ``/docs-assets``; nothing is
downloaded at run time, and neither page names another host."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

#: Where the Swagger UI and ReDoc files are served.
ASSETS = "/docs-assets"
_PACKAGE = ("fastapi_offline", "static")


def install_docs(app: FastAPI) -> None:
    """Mount the assets and add /docs and /redoc (the app is made with both turned off)."""
    app.mount(ASSETS, StaticFiles(packages=[_PACKAGE]), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # no badge that sends the document to swagger.io's online validator
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
