"""Helpers for the web UI tests (and scripts/ui_screenshots.py): users, browser-like sessions, Chromium."""

from __future__ import annotations

import re
import secrets

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


def make_user(service, name: str, role: str, pw: str | None = None) -> str:
    """A user created through the API by the admin token; returns its password."""
    pw = pw or password()
    resp = service.http.post("/api/users", json={"name": name, "password": pw, "role": role})
    assert resp.status_code == 201, resp.text
    return pw


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(service, name: str, pw: str) -> httpx.Client:
    """An httpx client that signed in through the login form, as a browser does (cookies, CSRF)."""
    client = httpx.Client(base_url=service.base, timeout=30)
    page = client.get("/login")
    resp = client.post("/login", data={"name": name, "password": pw, "csrf_token": csrf_of(page.text), "next": "/"})
    assert resp.status_code == 303, resp.text
    client.csrf = csrf_of(client.get("/").text)  # the session's token, in every form of every page
    return client


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def browser_login(page, base: str, name: str, pw: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", pw)
    page.click("button.primary")
    page.wait_for_url(f"{base}/")
