"""APP_PREFIX: the whole app, static files included, under a sub-path; nothing outside it."""

from __future__ import annotations

import pytest

from .stack import Stack, stack_fixture

PREFIX = "/myapp"


prefixed = stack_fixture(APP_PREFIX=PREFIX)


def test_page_and_its_links_live_under_the_prefix(prefixed: Stack) -> None:
    page = prefixed.get(f"{PREFIX}/")
    assert page.status_code == 200
    assert f'href="{PREFIX}/static/css/app.css"' in page.text
    assert f'src="{PREFIX}/static/js/app.js"' in page.text
    assert f'data-url="{PREFIX}/api/whoami"' in page.text


def test_static_files_are_served_by_nginx_under_the_prefix(prefixed: Stack) -> None:
    with prefixed.app_paused():
        response = prefixed.get(f"{PREFIX}/static/css/app.css", timeout=5)
    assert response.status_code == 200
    assert response.content == (prefixed.static_dir / "css" / "app.css").read_bytes()


def test_the_app_sees_the_prefix_as_its_script_root(prefixed: Stack) -> None:
    info = prefixed.get(f"{PREFIX}/api/whoami").json()
    assert info["script_root"] == PREFIX
    assert info["server"] == prefixed.backend
    assert prefixed.get(f"{PREFIX}/healthz").json() == {"status": "ok", "server": prefixed.backend}


def test_redirects_stay_under_the_prefix(prefixed: Stack) -> None:
    from_app = prefixed.get(f"{PREFIX}/home", allow_redirects=False)
    assert from_app.status_code == 302
    assert from_app.headers["Location"] in (f"{PREFIX}/", f"{prefixed.base_url}{PREFIX}/")
    bare = prefixed.get(PREFIX, allow_redirects=False)
    assert bare.status_code == 301
    assert bare.headers["Location"] == f"{PREFIX}/"
    assert prefixed.get(f"{PREFIX}/home").url == f"{prefixed.base_url}{PREFIX}/"


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/whoami", "/static/css/app.css", "/myapp2/", "/other/myapp/"])
def test_requests_outside_the_prefix_get_404(prefixed: Stack, path: str) -> None:
    response = prefixed.get(path, allow_redirects=False)
    assert response.status_code == 404


def test_unknown_path_under_the_prefix_is_the_apps_json_404(prefixed: Stack) -> None:
    response = prefixed.get(f"{PREFIX}/api/nope")
    assert response.status_code == 404
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    "spelling",
    [
        "//myapp/api/whoami",
        "/./myapp/api/whoami",
        "/x/../myapp/api/whoami",
        "/%6Dyapp/api/whoami",
        "/myapp//api/whoami",
        "/myapp/./api/whoami",
        "/myapp/%61pi/whoami",
        "/myapp/api/x/../whoami",
    ],
)
def test_every_spelling_of_the_prefix_gets_the_canonical_resource(prefixed: Stack, spelling: str) -> None:
    """Gunicorn answered these with its own 500 page (the raw path did not start with SCRIPT_NAME)."""
    response = prefixed.session.get(prefixed.url(spelling), timeout=30)
    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["script_root"], info["server"]) == (PREFIX, prefixed.backend)
    assert info["url"].endswith(f"{PREFIX}/api/whoami")


@pytest.mark.parametrize("spelling", ["/myapp/../api/whoami", "/%6Dyapp2/api/whoami", "/MYAPP/api/whoami"])
def test_a_spelling_outside_the_prefix_is_nginxs_404(prefixed: Stack, spelling: str) -> None:
    response = prefixed.session.get(prefixed.url(spelling), timeout=30)
    assert response.status_code == 404
    assert "<h1>404 Not Found</h1>" in response.text
