"""Forge webhooks: signatures, a re-push replacing its queued job, one PR comment updated in place."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest


class Forge:
    """A local HTTP server that plays the GitHub/GitLab comment API and records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict | None]] = []
        self.comments: dict[int, str] = {}
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _reply(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict:
                return json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")

            def do_GET(self):
                forge.calls.append(("GET", self.path, None))
                self._reply(200, [{"id": i, "body": b} for i, b in forge.comments.items()])

            def do_POST(self):
                body = self._body()
                forge.calls.append(("POST", self.path, body))
                cid = len(forge.comments) + 1
                forge.comments[cid] = body["body"]
                self._reply(201, {"id": cid})

            def do_PATCH(self):
                body = self._body()
                forge.calls.append(("PATCH", self.path, body))
                forge.comments[int(self.path.rsplit("/", 1)[1])] = body["body"]
                self._reply(200, {})

            do_PUT = do_PATCH

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def forge():
    f = Forge()
    yield f
    f.close()


def _github(service, event: dict, secret: str = "gh-secret", kind: str = "pull_request") -> httpx.Response:
    body = json.dumps(event).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{service.base}/api/hooks/github", params={"target": "shop"}, content=body,
                      headers={"X-Hub-Signature-256": sig, "X-GitHub-Event": kind, "content-type": "application/json"})


def _pr(action: str, sha: str) -> dict:
    return {"action": action, "number": 7, "pull_request": {"number": 7, "head": {"sha": sha, "ref": "feature"}},
            "repository": {"full_name": "acme/shop"}, "sender": {"login": "ada"}}


def test_github_push_enqueues_replaces_and_comments_once(service, source_db, forge):
    service.target("shop", source_db=source_db())
    assert _github(service, _pr("opened", "a" * 40), secret="wrong").status_code == 401
    first = _github(service, _pr("opened", "a" * 40)).json()
    second = _github(service, _pr("synchronize", "b" * 40)).json()
    assert second["replaced"] == [first["id"]]
    old = service.get(first["id"])
    assert old["status"] == "cancelled" and old["status_reason"] == "replaced by a newer push"
    assert service.get(second["id"])["requested_by"] == "github:ada"
    service.env.update(SERVICE_SLEEP_S="0", REHEARSE_GITHUB_API=forge.url, REHEARSE_GITHUB_TOKEN="t")
    service.start_worker()
    assert service.wait_for(second["id"], ("passed", "failed", "error"))["status"] == "passed"
    third = _github(service, _pr("synchronize", "c" * 40)).json()
    assert service.wait_for(third["id"], ("passed", "failed", "error"))["status"] == "passed"
    import time
    deadline = time.monotonic() + 30
    while not any(c[0] == "PATCH" for c in forge.calls) and time.monotonic() < deadline:
        time.sleep(0.2)
    writes = [(m, p) for m, p, _ in forge.calls if m != "GET"]
    assert writes == [("POST", "/repos/acme/shop/issues/7/comments"), ("PATCH", "/repos/acme/shop/issues/comments/1")]
    (body,) = forge.comments.values()
    assert "<!-- rehearse:target=shop -->" in body and "cccccccccccc" in body and "sv02" in body
    summary = json.loads(body.split("<!-- rehearse-summary ", 1)[1].split(" -->", 1)[0])
    assert summary["outcome"] == "pass" and summary["revisions"][0]["id"] == "sv02"


def test_gitlab_token_is_checked_and_a_merge_request_is_enqueued(service, source_db):
    service.target("shop", source_db=source_db())
    event = {"object_kind": "merge_request", "user": {"username": "lin"}, "project": {"id": 42},
             "object_attributes": {"iid": 3, "action": "open", "source_branch": "f", "last_commit": {"id": "d" * 40}}}
    url = f"{service.base}/api/hooks/gitlab?target=shop"
    assert httpx.post(url, json=event, headers={"X-Gitlab-Token": "nope"}).status_code == 401
    resp = httpx.post(url, json=event, headers={"X-Gitlab-Token": "gl-secret"})
    assert resp.status_code == 202
    row = service.get(resp.json()["id"])
    assert row["ref"] == "d" * 40 and row["requested_by"] == "gitlab:lin" and row["status"] == "queued"
    assert httpx.post(f"{service.base}/api/hooks/gitlab?target=none", json=event,
                      headers={"X-Gitlab-Token": "gl-secret"}).status_code == 404
