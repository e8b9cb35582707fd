"""What a caller can do to the service, shared by the HTTP API and the web pages: one function per action.

Each takes the engine and the caller (``auth.Who``), checks what only the data can tell (whose
rehearsal, which state), writes in one transaction together with its audit entry, and raises
``ApiError`` (rendered as JSON {what, why, hint} by the API, as an error page by the pages).
Role checks by rank happen before, in the route's dependency.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import sqlalchemy as sa

from ..errors import RehearseError
from ..urls import redact
from . import store

log = logging.getLogger("rehearse.service")
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$")


class ApiError(Exception):
    def __init__(self, status: int, what: str, why: str, hint: str) -> None:
        super().__init__(what)
        self.status, self.what, self.why, self.hint = status, what, why, hint


def _rank(role: str) -> int:
    return store.ROLES.index(role)


def rehearsal_or_404(conn, rid: int) -> dict:
    row = store.rehearsal_row(conn, rid)
    if row is None:
        raise ApiError(404, f"rehearsal {rid} does not exist", "no rehearsal has that id",
                       "list them with GET /api/rehearsals")
    return row


def target_or_404(conn, name: str) -> dict:
    t = store.get_target(conn, name)
    if t is None:
        raise ApiError(404, f"target {name} does not exist", "no target has that name",
                       "create it with POST /api/targets, or list them with GET /api/targets")
    return t


def invalid_as_422(check, why: str, where: str = ""):
    """Run a validator from config/schedule; its BadInput becomes the 422 {what, why, hint}."""
    try:
        return check()
    except RehearseError as exc:
        raise ApiError(422, where + redact(exc.message), why, exc.hint or "see docs/service.md") from None


def put_target(engine: sa.Engine, who, body: dict[str, Any]) -> dict:
    if not (body.get("source_url") or body.get("snapshot") or body.get("snapshot_schedule")):
        raise ApiError(422, "the target names no database", "a rehearsal needs data to run on",
                       "give source_url, snapshot or snapshot_schedule")
    if not (body.get("project_path") or body.get("git_url")):
        raise ApiError(422, "the target names no project", "a rehearsal needs the Alembic project",
                       "give project_path (a local path) or git_url and git_ref")
    if body.get("source_url"):
        from ..urls import parse
        parse(body["source_url"])  # BadInput -> 400 with the redacted URL
    body = dict(body)
    if body.get("snapshot_schedule") is not None:
        if body.get("snapshot"):
            raise ApiError(422, "the target has both snapshot and snapshot_schedule",
                           "a rehearsal uses one snapshot: a fixed directory or the newest scheduled pull",
                           "give one of them")
        if not body.get("source_url"):
            raise ApiError(422, "snapshot_schedule needs source_url", "scheduled snapshots are pulled from it",
                           "give source_url (it is stored, never returned)")
        from .schedule import parse_schedule
        body["snapshot_schedule"] = invalid_as_422(lambda: parse_schedule(body["snapshot_schedule"]),
                                                   "the schedule could not be followed").to_json()
    from ..config import validate_thresholds
    invalid_as_422(lambda: validate_thresholds(body.get("thresholds")),
                   "the rehearsal would refuse these thresholds in its settings file")
    body["run_options"] = checked_run_options(who, body.get("run_options"), body)
    with engine.begin() as conn:
        existed = store.get_target(conn, body["name"]) is not None
        store.put_target(conn, body)
        out = store.get_target(conn, body["name"])
        store.audit(conn, who[0], "target.update" if existed else "target.create", body["name"],
                    **{k: v for k, v in out.items() if k != "has_source_url"})
    log.info("target %s saved by %s", body["name"], who[0])
    return out


# A target's `rehearse run` options, by the names the API takes; each is a run: key of rehearse.yaml
# (traffic_window_s and an app check's timeout_s are that file's traffic_window and timeout, in seconds)
RUN_OPTIONS = ("queries", "traffic_window_s", "app_checks", "scale", "settings", "target_version", "pg_bindir",
               "suggest_rewrites")


def checked_run_options(who, options: Any, target: dict) -> dict:
    """``run_options`` checked by rehearse's own validators (as the child run will check them), normalized.

    App checks are commands the worker runs: only an admin may set them (403), whatever route the
    options come through. Relative paths start from the project folder (the child's working
    directory); a git target's are checked by the child, in its checkout.
    """
    if not options:
        return {}
    if not isinstance(options, dict):
        raise ApiError(422, "run_options must be an object", "it maps option names to values",
                       f"e.g. {{\"scale\": \"1%,3%,10%\"}}; the names: {', '.join(RUN_OPTIONS)}")
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise ApiError(422, f"run_options: unknown option {unknown[0]!r}", "a target sets only these `rehearse run` "
                       "options (its project's rehearse.yaml decides the rest)",
                       f"use one of: {', '.join(RUN_OPTIONS)}")
    if options.get("app_checks") and who[1] != "admin":
        raise ApiError(403, "only admins set app_checks", "an app check is a shell command the worker runs "
                       "against staging, with the worker's own rights", "ask an admin to set it")
    from pathlib import Path

    from ..config import parse_duration, validate_run_section
    paths_from = Path(target["project_path"]) if target.get("project_path") and not target.get("git_url") else None
    out = invalid_as_422(lambda: validate_run_section(options, paths_from=paths_from),
                         "the rehearsal would refuse this option", where="run_options: ")
    if "traffic_window" in out:  # back to the API's names, in seconds
        out["traffic_window_s"] = parse_duration(out.pop("traffic_window"))
    for check in out.get("app_checks", ()):
        if "timeout" in check:
            check["timeout_s"] = parse_duration(check.pop("timeout"))
    return out


def set_run_options(engine: sa.Engine, who, name: str, options: Any) -> dict:
    """Replace a target's run options (the target page's form), checked as ``POST /api/targets`` checks them."""
    with engine.connect() as conn:
        target = target_or_404(conn, name)
    checked = checked_run_options(who, options, target)
    with engine.begin() as conn:
        store.set_run_options(conn, name, checked)
        store.audit(conn, who[0], "target.run_options", name, run_options=checked, was=target["run_options"])
    log.info("run options of target %s saved by %s", name, who[0])
    return checked


def submit(engine: sa.Engine, who, target: str, ref: str | None) -> dict:
    with engine.begin() as conn:
        target_or_404(conn, target)
        queued = store.enqueue(conn, target=target, ref=ref, requested_by=who[0])
        store.audit(conn, who[0], "rehearsal.submit", str(queued["id"]), target=target, ref=ref)
    return {"id": queued["id"], "status": "queued"}


def may_cancel(who, row: dict) -> bool:
    return row["status"] not in store.FINISHED and (
        _rank(who[1]) >= _rank("approver") or (_rank(who[1]) >= _rank("requester") and row["requested_by"] == who[0]))


def cancel(engine: sa.Engine, who, rid: int) -> dict:
    with engine.begin() as conn:
        row = rehearsal_or_404(conn, rid)
        if _rank(who[1]) < _rank("approver") and row["requested_by"] != who[0]:
            raise ApiError(403, "not your rehearsal", "requesters may cancel only their own rehearsals",
                           "ask its requester or an approver")
        if row["status"] in store.FINISHED:
            raise ApiError(409, f"rehearsal {rid} is already {row['status']}", "only a queued or running "
                           "rehearsal can be cancelled", "nothing to do")
        status = store.request_cancel(conn, rid)
        store.audit(conn, who[0], "rehearsal.cancel", str(rid), was=row["status"])
    return {"id": rid, "status": status, "cancel_requested": True}


def approve(engine: sa.Engine, who, rid: int, reason: str) -> dict:
    """An approver's sign-off on a rehearsal whose risk reached its target's approval threshold."""
    reason = (reason or "").strip()
    if not reason:
        raise ApiError(422, "an approval needs a reason", "the reason is shown on the rehearsal and in the PR comment",
                       "say why this risk is acceptable for the release")
    with engine.connect() as conn:
        requester = rehearsal_or_404(conn, rid)["requested_by"]
    if requester == who[0]:
        with engine.begin() as conn:  # recorded: a refused self-approval is worth seeing in the log
            store.audit(conn, who[0], "rehearsal.approve.refused", str(rid), reason="requester may not approve")
        raise ApiError(403, "you requested this rehearsal", "a release approval must come from an approver "
                       "who is not the rehearsal's requester", "ask another approver to sign off")
    with engine.begin() as conn:
        row = rehearsal_or_404(conn, rid)
        conn.execute(sa.text("SELECT 1 FROM rehearsals WHERE id = :i FOR UPDATE"), {"i": rid})
        decision = store.decision_for(conn, rid)
        if decision["state"] != "awaiting approval":
            raise ApiError(409, f"rehearsal {rid} cannot be approved: it is {decision['state']}", decision["summary"],
                           "only a passed rehearsal at or above its target's approval threshold waits for a sign-off")
        store.add_approval(conn, rid, who[0], reason)
        store.audit(conn, who[0], "rehearsal.approve", str(rid), reason=reason, risk=row["risk"],
                    threshold=decision["threshold"])
        decision = store.decision_for(conn, rid)
    if row.get("forge"):
        # the PR comment shows the decision: update it without making the approver wait for the forge
        from .hooks import post_report_comment
        threading.Thread(target=post_report_comment, args=(engine, rid), daemon=True).start()
    return {"id": rid, "approval": decision}


def create_user(engine: sa.Engine, who, name: str, password: str, role: str) -> dict:
    from .auth import check_new_password, hash_password

    if not USER_NAME.match(name or ""):
        raise ApiError(422, f"invalid user name {name!r}", "a name is 1-63 letters, digits and . _ @ -",
                       "choose another name")
    if role not in store.ROLES:
        raise ApiError(422, f"role {role!r} does not exist", "roles are " + ", ".join(store.ROLES),
                       "use one of them")
    check_new_password(password)
    with engine.begin() as conn:
        if role != "admin":
            _keep_an_admin(conn, name, "give it another role")
        created = store.put_user(conn, name, hash_password(password), role)
        store.audit(conn, who[0], "user.create" if created else "user.update", name, role=role)
    return {"name": name, "role": role, "created": created}


def _keep_an_admin(conn, name: str, doing: str) -> None:
    """Refuse to leave the service without an enabled admin user (nobody could manage it from the UI)."""
    admins = store.enabled_admins(conn)
    if admins == [name]:
        raise ApiError(409, f"{name} is the only enabled admin", f"the service would have no admin to "
                       f"manage users and targets if you {doing}", "make another user admin first")


def set_user_disabled(engine: sa.Engine, who, name: str, disabled: bool) -> dict:
    """Disable a user (sign-in refused, sessions ended, tokens stop) or enable it again; audited."""
    with engine.begin() as conn:
        user = store.get_user(conn, name)
        if user is None:
            raise ApiError(404, f"user {name} does not exist", "no user has that name",
                           "list them with GET /api/users")
        if disabled:
            if name == who[0]:
                raise ApiError(409, "you cannot disable yourself", "you would be signed out at once",
                               "ask another admin to do it")
            _keep_an_admin(conn, name, "disable it")
        changed = store.set_user_disabled(conn, name, disabled, who[0])
        if changed:
            store.audit(conn, who[0], "user.disable" if disabled else "user.enable", name, role=user["role"])
    return {"name": name, "disabled": disabled, "changed": changed}


def create_token(engine: sa.Engine, who, user: str | None, role: str | None) -> dict:
    """A token for the caller or, for admins, for another user; its role at most that user's."""
    user = user or who[0]
    if user != who[0] and who[1] != "admin":
        raise ApiError(403, "only admins create tokens for others", f"you are {who[0]}, the token is for {user}",
                       "leave 'user' out to get a token for yourself")
    with engine.connect() as conn:
        account = store.get_user(conn, user)
    if account is None:
        raise ApiError(404, f"user {user} does not exist", "tokens are linked to users",
                       "create the user first (POST /api/users)")
    role = role or account["role"]
    if role not in store.ROLES:
        raise ApiError(422, f"role {role!r} does not exist", "roles are " + ", ".join(store.ROLES), "use one of them")
    if _rank(role) > _rank(account["role"]):
        raise ApiError(403, f"a token cannot have more than its user's role ({account['role']})",
                       "a token acts as its user", "ask for a lower role, or give the user a higher one")
    with engine.begin() as conn:
        token = store.create_user_token(conn, user, role, who[0])
    return {"user": user, "role": role, "token": token}


def revoke_token(engine: sa.Engine, who, token_id: int) -> dict:
    """Remove a token: admins any, others their own. Every `serve` stops accepting it within its 5 s cache."""
    with engine.begin() as conn:
        owner = store.token_owner(conn, token_id)
        if owner is None:
            raise ApiError(404, f"token {token_id} does not exist", "no token has that id",
                           "list them with GET /api/tokens")
        if owner != who[0] and who[1] != "admin":
            raise ApiError(403, "not your token", "only admins revoke other users' tokens", "ask an admin")
        gone = store.revoke_token(conn, token_id)
        store.audit(conn, who[0], "token.revoke", owner, id=token_id, role=gone["role"])
    return {"id": token_id, "revoked": True, "owner": owner}
