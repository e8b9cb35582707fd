"""The one error hierarchy of rehearse; the CLI maps each class to an exit code.

A rehearsal that *finds* a problem (a failing migration, a rollback that does not
restore the schema) is not an error: it is an outcome in the Report (exit 1).
Errors are for when rehearse cannot do its job: bad input (exit 2) or broken
infrastructure (exit 3). Every message is one line: what, why, what to do.
"""

from __future__ import annotations


class RehearseError(Exception):
    """Base of every error rehearse raises on purpose."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(". ")
        if self.hint:
            text += f"; {self.hint.rstrip('.')}"
        return " ".join(text.split())


class BadInput(RehearseError):
    """The user gave something rehearse cannot use (path, URL, revision, policy)."""

    exit_code = 2


class InfrastructureError(RehearseError):
    """Something rehearse needs (a server, a binary, Docker, the disk) failed."""

    exit_code = 3


class SourceUnreachable(BadInput):
    """The source database cannot be reached with the URL given."""


class PolicyError(BadInput):
    """The anonymization policy is invalid, or refuses to read the source."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message, hint=hint)
        self.file, self.line, self.key = file, line, key


class SnapshotError(BadInput):
    """A snapshot directory is missing, incomplete, corrupt or tampered with."""


class StagingError(InfrastructureError):
    """A staging database could not be started, reached or torn down."""


class DockerUnavailable(BadInput):
    """--staging docker was asked for but no Docker engine can be reached."""


class LeakDetected(RehearseError):
    """The leak scan found an original personal value in the written snapshot."""

    exit_code = 1
