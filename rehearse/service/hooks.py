"""Forge webhooks: a pull/merge request push enqueues a rehearsal; its report becomes one PR comment.

The comment carries a hidden marker (one per target) so the next push updates it in place, plus
the report's JSON summary in an HTML comment for tools to read, as GitLab's own database testing
does. Forge API base URLs and credentials come from the environment:
REHEARSE_GITHUB_SECRET / REHEARSE_GITHUB_TOKEN / REHEARSE_GITHUB_API (default https://api.github.com),
REHEARSE_GITLAB_SECRET / REHEARSE_GITLAB_TOKEN / REHEARSE_GITLAB_API (default https://gitlab.com/api/v4).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os

import httpx
import sqlalchemy as sa
from fastapi import FastAPI, Query, Request

from . import store

log = logging.getLogger("rehearse.service")
GITHUB_ACTIONS = {"opened", "synchronize", "reopened"}
GITLAB_ACTIONS = {"open", "update", "reopen"}


def marker(target: str) -> str:
    return f"<!-- rehearse:target={target} -->"


def install_hooks(app: FastAPI, engine: sa.Engine, ApiError: type) -> None:
    def secret(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise ApiError(403, "webhooks are not configured", f"{name} is not set on the service",
                           f"set {name} to the secret configured in the forge's webhook")
        return value

    def known_target(name: str) -> None:
        with engine.connect() as conn:
            if store.get_target(conn, name) is None:
                raise ApiError(404, f"target {name} does not exist", "the webhook URL names an unknown target",
                               "point the webhook at /api/hooks/<forge>?target=<an existing target>")

    def enqueue(target: str, ref: str, pr_key: str, who: str, forge: dict) -> dict:
        with engine.begin() as conn:
            queued = store.enqueue(conn, target=target, ref=ref, requested_by=who, pr_key=pr_key, forge=forge)
            store.audit(conn, who, "rehearsal.submit", str(queued["id"]), target=target, ref=ref, via=forge["kind"],
                        replaced=queued["replaced"])
        return {"id": queued["id"], "status": "queued", "replaced": queued["replaced"]}

    @app.post("/api/hooks/github", status_code=202)
    async def github(request: Request, target: str = Query(...)) -> dict:
        body = await request.body()
        expected = "sha256=" + hmac.new(secret("REHEARSE_GITHUB_SECRET").encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
            raise ApiError(401, "bad webhook signature", "X-Hub-Signature-256 does not match the body",
                           "configure the same secret in GitHub and REHEARSE_GITHUB_SECRET")
        if request.headers.get("x-github-event") != "pull_request":
            return {"ignored": "not a pull_request event"}
        event = _json(body, ApiError)
        if event.get("action") not in GITHUB_ACTIONS:
            return {"ignored": f"action {event.get('action')}"}
        known_target(target)
        pr, repo = event["pull_request"], event["repository"]["full_name"]
        forge = {"kind": "github", "repo": repo, "number": pr["number"], "target": target}
        return enqueue(target, pr["head"]["sha"], f"github:{repo}#{pr['number']}:{target}",
                       f"github:{(event.get('sender') or {}).get('login', 'webhook')}", forge)

    @app.post("/api/hooks/gitlab", status_code=202)
    async def gitlab(request: Request, target: str = Query(...)) -> dict:
        body = await request.body()
        if not hmac.compare_digest(secret("REHEARSE_GITLAB_SECRET"), request.headers.get("x-gitlab-token", "")):
            raise ApiError(401, "bad webhook token", "X-Gitlab-Token does not match the configured secret",
                           "configure the same secret token in GitLab and REHEARSE_GITLAB_SECRET")
        event = _json(body, ApiError)
        attrs = event.get("object_attributes") or {}
        if event.get("object_kind") != "merge_request" or attrs.get("action") not in GITLAB_ACTIONS:
            return {"ignored": "not a merge request push"}
        known_target(target)
        project = event["project"]["id"]
        forge = {"kind": "gitlab", "project": project, "iid": attrs["iid"], "target": target}
        sha = (attrs.get("last_commit") or {}).get("id") or attrs.get("source_branch")
        return enqueue(target, sha, f"gitlab:{project}!{attrs['iid']}:{target}",
                       f"gitlab:{(event.get('user') or {}).get('username', 'webhook')}", forge)


def _json(body: bytes, ApiError: type) -> dict:
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, "the webhook body is not JSON", "the forge sent something else",
                       "configure the webhook with content type application/json") from None


def comment_body(row: dict, decision: dict | None = None) -> str:
    target = row["forge"]["target"]
    head = f"{marker(target)}\n### rehearse: `{target}` at `{(row['ref'] or '')[:12]}`: **{row['status']}**"
    if row["status_reason"]:
        head += f" ({row['status_reason']})"
    if decision and decision["state"] in ("approved", "auto-approved", "awaiting approval"):
        mark = "**release-approved**" if decision["release_approved"] else "**awaiting release approval**"
        head += f"\n\n{mark}: {decision['summary']}"
    if not row["report_json"]:
        return head + "\n"
    from ..api import render
    from ..model import report_from_dict
    data = json.loads(row["report_json"])
    summary = {"outcome": data.get("outcome"), "risk": data.get("risk"), "failures": data.get("failures"),
               "release_approved": decision["release_approved"] if decision else None,
               "approval": decision["state"] if decision else None,
               "revisions": [{"id": r.get("id"), "risk": r.get("risk")} for r in data.get("revisions") or []]}
    md = render(report_from_dict(data), "md")
    return f"{head}\n\n{md}\n\n<!-- rehearse-summary {json.dumps(summary)} -->\n"


def post_report_comment(engine: sa.Engine, rid: int) -> None:
    """Create or update (found by its marker) the PR comment with this rehearsal's report."""
    with engine.connect() as conn:
        row = store.rehearsal_row(conn, rid)
        decision = store.decision_for(conn, rid)
    forge = row["forge"]
    body = comment_body(row, decision)
    mark = marker(forge["target"])
    try:
        if forge["kind"] == "github":
            base = os.environ.get("REHEARSE_GITHUB_API", "https://api.github.com").rstrip("/")
            headers = {"Authorization": f"Bearer {os.environ.get('REHEARSE_GITHUB_TOKEN', '')}",
                       "Accept": "application/vnd.github+json"}
            with httpx.Client(base_url=base, headers=headers, timeout=20) as http:
                listing = http.get(f"/repos/{forge['repo']}/issues/{forge['number']}/comments",
                                   params={"per_page": 100})
                listing.raise_for_status()
                old = next((c for c in listing.json() if mark in (c.get("body") or "")), None)
                if old:
                    http.patch(f"/repos/{forge['repo']}/issues/comments/{old['id']}", json={"body": body}).raise_for_status()
                else:
                    http.post(f"/repos/{forge['repo']}/issues/{forge['number']}/comments",
                              json={"body": body}).raise_for_status()
        else:
            base = os.environ.get("REHEARSE_GITLAB_API", "https://gitlab.com/api/v4").rstrip("/")
            headers = {"PRIVATE-TOKEN": os.environ.get("REHEARSE_GITLAB_TOKEN", "")}
            notes = f"/projects/{forge['project']}/merge_requests/{forge['iid']}/notes"
            with httpx.Client(base_url=base, headers=headers, timeout=20) as http:
                listing = http.get(notes, params={"per_page": 100})
                listing.raise_for_status()
                old = next((n for n in listing.json() if mark in (n.get("body") or "")), None)
                if old:
                    http.put(f"{notes}/{old['id']}", json={"body": body}).raise_for_status()
                else:
                    http.post(notes, json={"body": body}).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("could not post the report of rehearsal %s to %s: %s", rid, forge["kind"], exc)
        with engine.begin() as conn:
            store.add_event(conn, rid, f"could not post the PR comment: {exc}")
