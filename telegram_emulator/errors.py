"""Errors: `ApiError` is a Bot API error answer, `EmulatorError` a misuse of the control API."""

from http import HTTPStatus

from telegram_emulator.json_types import JSONObject


class EmulatorError(Exception):
    """The control API was asked for something impossible (unknown user, message, button...)."""


class ApiError(Exception):
    """A Bot API error, answered to the bot exactly as Telegram shapes it."""

    def __init__(self, status: int, description: str, parameters: JSONObject | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONObject:
        body: JSONObject = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, f"Forbidden: {reason}")


def conflict(reason: str) -> ApiError:
    return ApiError(HTTPStatus.CONFLICT, f"Conflict: {reason}")


def not_found() -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "Not Found")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


def server_error(status: int = HTTPStatus.INTERNAL_SERVER_ERROR) -> ApiError:
    """A 5xx (or any other status) with Telegram's plain reason phrase as description."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Internal Server Error"
    return ApiError(status, phrase)


def chat_not_found() -> ApiError:
    return bad_request("chat not found")
