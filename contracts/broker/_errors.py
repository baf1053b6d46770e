"""The broker's errors, free of any web framework: what went wrong, as the
problem document the HTTP side renders (``resources._http.problem_response``)."""

from __future__ import annotations

__all__ = ["BrokerError", "bad_request", "unprocessable"]


class BrokerError(Exception):
    """Becomes an RFC 9457 problem document; ``errors`` names what and where."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers

    @property
    def problem_type(self) -> str:
        """The problem's ``type``: one URI per title."""
        return f"https://covenant.dev/problems/{self.title.lower().replace(' ', '-')}"


def _detail(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{where}: {', '.join(problems)}" for where, problems in errors.items())


def bad_request(errors: dict[str, list[str]]) -> BrokerError:
    """400: the request breaks what the OpenAPI document says (a malformed name in the
    path, a query value out of range, a body that does not match its schema)."""
    return BrokerError(400, "Bad Request", _detail(errors), errors=errors)


def unprocessable(errors: dict[str, list[str]], prefix: str = "") -> BrokerError:
    """422: the request matches its documented schema but cannot be carried out (names
    that contradict the path, unknown pacticipants or environments, a base64 content
    that is not a pact). Kept apart from 400 so that a schema-valid request is never
    answered as malformed, which is what Schemathesis's positive-data check holds
    the broker to."""
    return BrokerError(422, "Unprocessable Content", prefix + _detail(errors), errors=errors)
