"""Who is asking: bearer tokens, local users with argon2 password hashes, cookie sessions, CSRF, the login rate limit.

Two kinds of credential reach every endpoint and page:

- ``Authorization: Bearer <token>`` (CI, scripts): no ambient credential, so no CSRF check.
- the ``rehearse_session`` cookie set by ``POST /login`` (browsers): a random 256-bit id whose
  SHA-256 is a row of ``sessions``; HttpOnly, SameSite=Lax, Secure when served over https. Every
  state-changing request made with it must carry the session's CSRF token (``X-CSRF-Token``
  header, or a ``csrf_token`` form field), compared in constant time.

Logins are rate-limited in the database (so several ``serve`` agree): after ``MAX_FAILURES``
failed attempts in ``WINDOW_S`` for one user name, or from one client address, the next attempt
is refused with 429 before the password is even checked.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from typing import NamedTuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from . import store
from .actions import ApiError

SESSION_COOKIE = "rehearse_session"
LOGIN_CSRF_COOKIE = "rehearse_login_csrf"
SESSION_LIFETIME_S = 12 * 3600
MAX_FAILURES = 5
WINDOW_S = 300.0
TOKEN_CACHE_S = 5.0
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
RANK = {r: i for i, r in enumerate(store.ROLES)}

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# verified against when the user does not exist, so an unknown name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Who(NamedTuple):
    """The caller: its name, role, how it authenticated ("token" or "session") and, for sessions, the CSRF token."""

    name: str
    role: str
    via: str = "token"
    csrf: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if len(password) < 10:
        raise ApiError(422, "the password is too short", "a password needs at least 10 characters",
                       "choose a longer one (a passphrase of a few words is good)")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


class Auth:
    """The identity dependency and the login flow over one service database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._tokens: dict[str, tuple[tuple[str, str, bool], float]] = {}  # token -> ((who, role, disabled), until)

    # -- identity ---------------------------------------------------------------------------------
    def _token(self, token: str) -> tuple[str, str, bool] | None:
        cached = self._tokens.get(token)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        with self.engine.connect() as conn:
            who = store.token_identity(conn, token)
        if who is not None and not who[2]:
            # a few seconds of cache: one query less per request. A revoked token, or one whose
            # user is disabled, stops within that time (at once in the process that did it: forget)
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[token] = (who, time.monotonic() + TOKEN_CACHE_S)
        return who

    def forget(self, user: str) -> None:
        """Drop the cached tokens of ``user`` (disabled, or a token revoked): the next request looks again."""
        for token, (who, _) in list(self._tokens.items()):
            if who[0] == user:
                self._tokens.pop(token, None)

    def _session(self, session_id: str) -> tuple[str, str, str] | None:
        with self.engine.connect() as conn:
            return store.session_identity(conn, session_id)

    async def identity(self, request: Request) -> Who:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            who = await asyncio.to_thread(self._token, auth[7:].strip())
            if who is None:
                raise ApiError(401, "unknown token", "the token is not one the service issued",
                               "create one with `rehearse token create` or POST /api/tokens")
            if who[2]:
                raise ApiError(403, f"user {who[0]} is disabled", "an admin disabled this user: its tokens and "
                               "sessions stop working until it is enabled again", "ask an admin to enable the user")
            return Who(who[0], who[1], "token")
        session_id = request.cookies.get(SESSION_COOKIE)
        found = await asyncio.to_thread(self._session, session_id) if session_id else None
        if found is None:
            raise ApiError(401, "not signed in" if not session_id else "the session has ended",
                           "every endpoint but /api/health needs a bearer token or a signed-in session",
                           "sign in at /login, or send 'Authorization: Bearer <token>' (rehearse token create)")
        who = Who(found[0], found[1], "session", found[2])
        if request.method not in SAFE_METHODS:
            await self.check_csrf(request, who.csrf)
        return who

    async def check_csrf(self, request: Request, expected: str | None) -> None:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")  # Starlette keeps the parsed form for the endpoint
        if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
            raise ApiError(403, "missing or wrong CSRF token", "a request that changes state from a browser "
                           "session must carry the token of the page it came from",
                           "reload the page and submit the form again")

    def need(self, role: str):
        async def check(request: Request) -> Who:
            who = await self.identity(request)
            if RANK[who.role] < RANK[role]:
                raise ApiError(403, f"role {who.role} may not do this", f"it needs the {role} role",
                               "ask an admin for that role")
            return who
        return check

    # -- login ------------------------------------------------------------------------------------
    def login(self, name: str, password: str, client: str) -> tuple[str, str]:
        """Check a user's password under the rate limit; a new session (id, csrf) when it matches."""
        # (each refusal is committed before it is raised: a raise inside engine.begin() would roll it back)
        with self.engine.begin() as conn:
            by_user, by_client = store.recent_login_failures(conn, name, client, WINDOW_S)
            limited = by_user >= MAX_FAILURES or by_client >= MAX_FAILURES
            if limited:
                store.audit(conn, name, "login.refused", name, client=client, reason="rate limited")
        if limited:
            raise ApiError(429, "too many failed logins", f"{MAX_FAILURES} failures within "
                           f"{int(WINDOW_S // 60)} minutes for this user or from this address",
                           f"wait {int(WINDOW_S // 60)} minutes, or ask an admin to reset the password")
        with self.engine.connect() as conn:
            user = store.get_user(conn, name)
        ok = verify_password(user["password_hash"] if user else _DUMMY_HASH, password) and user is not None
        if ok and user["disabled_at"] is not None:  # said only to who knows the password
            with self.engine.begin() as conn:
                store.audit(conn, name, "login.refused", name, client=client, reason="user disabled")
            raise ApiError(403, f"user {name} is disabled", f"an admin ({user['disabled_by']}) disabled this user",
                           "ask an admin to enable it")
        if not ok:
            with self.engine.begin() as conn:
                store.record_login(conn, name, client, False)
                store.audit(conn, name, "login.failure", name, client=client)
            raise ApiError(401, "wrong user name or password", "the service has no user with that password",
                           "check both, or ask an admin to set a new password")
        with self.engine.begin() as conn:
            store.record_login(conn, name, client, True)
            if _hasher.check_needs_rehash(user["password_hash"]):
                store.set_password_hash(conn, name, hash_password(password))
            session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            store.create_session(conn, session_id, name, csrf, SESSION_LIFETIME_S)
            store.audit(conn, name, "login.success", name, client=client)
        return session_id, csrf

    def logout(self, session_id: str, who: Who) -> None:
        with self.engine.begin() as conn:
            store.end_session(conn, session_id)
            store.audit(conn, who.name, "logout", who.name)
