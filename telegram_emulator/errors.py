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


class SendFailedError(ApiError):
    """A request Telegram took but could not send: a file it cannot get or will not take.
    `reason` is TDLib's words, which an album reports per message (`album_item_failed`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, f"Bad Request: {reason[0].lower()}{reason[1:]}")
        self.reason = reason


def bad_request(reason: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {reason}")


def album_item_failed(position: int, error: SendFailedError) -> ApiError:
    """How sendMediaGroup reports the failure of its `position`-th message (from 1)."""
    return bad_request(
        f'failed to send message #{position} with the error message "{error.reason}"'
    )


def forbidden(reason: str) -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, f"Forbidden: {reason}")


def conflict(reason: str) -> ApiError:
    return ApiError(HTTPStatus.CONFLICT, f"Conflict: {reason}")


def not_found() -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "Not Found")


def entity_too_large() -> ApiError:
    """What api.telegram.org answers a request with a file over 50 MB."""
    return ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")


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
