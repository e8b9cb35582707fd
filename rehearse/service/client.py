"""`rehearse submit`: enqueue a rehearsal on a service, stream its progress, return its exit code."""

from __future__ import annotations

import json
import sys

import httpx

from ..errors import BadInput, InfrastructureError

EXIT_BY_STATUS = {"passed": 0, "failed": 1, "error": 3, "cancelled": 130}


def _check(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        try:
            body = resp.json()
            raise BadInput(f"the service refused: {body.get('what')} ({body.get('why')})", hint=body.get("hint"))
        except ValueError:
            raise InfrastructureError(f"the service answered HTTP {resp.status_code}",
                                      hint="check --server and the service log") from None
    return resp.json()


def submit(server: str, token: str, target: str, ref: str | None, *, wait: bool, say=lambda s: None) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=30) as http:
            created = _check(http.post("/api/rehearsals", json={"target": target, "ref": ref}))
            rid = created["id"]
            say(f"rehearsal {rid} queued on {server} for target {target}")
            if not wait:
                print(rid)
                return 0
            with http.stream("GET", f"/api/rehearsals/{rid}/events", timeout=None) as stream:
                _check_stream(stream)
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "progress":
                        sys.stderr.write(json.loads(line[6:])["line"] + "\n")
                    elif line.startswith("data: ") and event == "end":
                        break
            row = _check(http.get(f"/api/rehearsals/{rid}"))
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"cannot talk to the service at {server}: {exc}",
                                  hint="check --server and that `rehearse serve` runs") from None
    say(f"rehearsal {rid}: {row['status']}" + (f" ({row['status_reason']})" if row.get("status_reason") else ""))
    if row.get("exit_code") is not None and row["status"] in ("passed", "failed", "error"):
        return int(row["exit_code"])
    return EXIT_BY_STATUS.get(row["status"], 3)


def _check_stream(stream: httpx.Response) -> None:
    if stream.status_code >= 400:
        stream.read()
        _check(stream)
