"""HTTP for activities: a small blocking client over ``wasi:http/outgoing-handler``.

::

    from reprise import activity, http

    @activity
    def fetch_rate(ctx, currency):
        response = http.get(f"https://rates.example/v1/{currency}", headers={"accept": "application/json"})
        if response.status != 200:
            raise Failure("RateUnavailable", f"the rate service answered {response.status}")
        return response.json()["rate"]

Every request goes to the host, which sends it only if one of the activity's grants allows it:
a refused request, like one that gets no response (DNS, connection, TLS, timeout), raises
:class:`HttpError`, which fails the activity with the error type ``HttpError`` (the host wraps
a denial as ``HttpDenied``). A response is returned whatever its status; redirects are not
followed (the host follows none either: following one is a new request, checked like the first).
Only activities may call it: an orchestrator or an entity that sends a request traps.

It owns the translation between Python values and ``wasi:http`` resources, and drops every
resource it makes (children before their parents, as the host requires); it holds no state
between requests.
"""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import Err, Ok, outgoing_handler, streams, wasi

import json as _json
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from .errors import Failure

__all__ = ["HttpError", "Response", "get", "post", "request"]

Headers = Union[Mapping[str, Union[str, bytes]], Iterable[Tuple[str, Union[str, bytes]]]]
Body = Union[bytes, bytearray, memoryview, str]

#: How many bytes one read of a response body asks for.
_READ_SIZE = 64 * 1024

_METHODS = {
    "GET": wasi.Method_Get,
    "HEAD": wasi.Method_Head,
    "POST": wasi.Method_Post,
    "PUT": wasi.Method_Put,
    "DELETE": wasi.Method_Delete,
    "CONNECT": wasi.Method_Connect,
    "OPTIONS": wasi.Method_Options,
    "TRACE": wasi.Method_Trace,
    "PATCH": wasi.Method_Patch,
}


class HttpError(Failure):
    """A request that got no response: refused by the host, or failed on the way.

    ``code`` is the ``wasi:http`` error code in lower case (``"http-request-denied"``,
    ``"connection-refused"``, ``"dns-error"``...), or ``None`` for an error found before the
    request was sent (a URL without a host, a forbidden header).
    """

    ERROR_TYPE = "HttpError"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(self.ERROR_TYPE, message)
        self.code = code


class Response:
    """An HTTP response, read whole: ``status``, ``headers`` (names in lower case, the values of
    a repeated header joined with ``", "``) and ``body`` (bytes)."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def text(self, encoding: Optional[str] = None) -> str:
        """The body decoded with ``encoding``, else the charset of ``content-type``, else UTF-8;
        bytes that do not decode become U+FFFD."""
        charset = encoding or _charset(self.headers.get("content-type", "")) or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


def request(method: str, url: str, headers: Optional[Headers] = None, body: Optional[Body] = None) -> Response:
    """Sends one request and returns its response, read whole; blocks until then.

    ``headers`` is a mapping or a list of pairs (values ``str``, encoded as UTF-8, or ``bytes``).
    ``body`` is bytes, or a ``str`` sent as UTF-8; with a body (or a POST, PUT or PATCH without
    one) and no ``content-length``, one is added. Raises :class:`HttpError` if there is no
    response.
    """
    method = method.upper()
    what = f"{method} {url}"
    data = body.encode("utf-8") if isinstance(body, str) else None if body is None else bytes(body)
    outgoing = _build(method, url, what, headers, data)
    request_body = outgoing.body()
    if data is None:
        # Finished before the request leaves: a server may answer a bodiless request at once,
        # and the host closes the body's stream once the exchange is over.
        _finish(request_body)
    try:
        future = outgoing_handler.handle(outgoing, None)
    except Err as error:
        if data is not None:
            request_body.__exit__(None, None, None)
        raise _failed(what, error.value) from None
    if data is not None:
        # Written after `handle`: the host streams the body to the server as it is written, so
        # a body larger than the stream's buffer cannot block before the request leaves. A
        # body cut short shows in the response's future: a server that answers without reading
        # it all (a 413, a 401) has its answer returned.
        _send_body(request_body, data)
    return _read(_wait(future, what), what)


def get(url: str, headers: Optional[Headers] = None) -> Response:
    """``request("GET", url, headers)``."""
    return request("GET", url, headers)


def post(url: str, body: Optional[Body] = None, headers: Optional[Headers] = None) -> Response:
    """``request("POST", url, headers, body)``."""
    return request("POST", url, headers, body)


def _build(method: str, url: str, what: str, headers: Optional[Headers], data: Optional[bytes]) -> "wasi.OutgoingRequest":
    parts = urlsplit(url)
    if not parts.netloc:
        raise HttpError(f"{what}: the URL has no host")
    if "@" in parts.netloc:
        raise HttpError(f"{what}: a URL with user information is not sent; pass credentials in a header")
    scheme = {"http": wasi.Scheme_Http(), "https": wasi.Scheme_Https()}.get(parts.scheme.lower())
    if scheme is None:
        raise HttpError(f"{what}: the URL's scheme is not http or https")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    fields = wasi.Fields()
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
    for name, value in pairs:
        try:
            fields.append(name.lower(), value if isinstance(value, bytes) else str(value).encode("utf-8"))
        except Err as error:
            fields.__exit__(None, None, None)
            raise HttpError(f"{what}: the header {name!r} {_header_problem(error.value)}") from None
    # As `fetch` does: a POST, PUT or PATCH without a body says so, rather than sending an
    # empty chunked one.
    length = len(data) if data is not None else 0 if method in ("POST", "PUT", "PATCH") else None
    if length is not None and not any(name.lower() == "content-length" for name, _ in pairs):
        fields.append("content-length", str(length).encode("ascii"))

    # The request takes the fields over: they are not dropped here.
    outgoing = wasi.OutgoingRequest(fields)
    method_value = _METHODS[method]() if method in _METHODS else wasi.Method_Other(method)
    for setter, value, part in (
        (outgoing.set_method, method_value, "method"),
        (outgoing.set_scheme, scheme, "scheme"),
        (outgoing.set_authority, parts.netloc, "host"),
        (outgoing.set_path_with_query, path, "path"),
    ):
        try:
            setter(value)
        except Err:
            outgoing.__exit__(None, None, None)
            raise HttpError(f"{what}: the request's {part} is not valid") from None
    return outgoing


def _send_body(body: "wasi.OutgoingBody", data: bytes) -> None:
    """Writes ``data`` and finishes the body, or drops it unfinished if its stream breaks."""
    try:
        with body.write() as stream:
            offset = 0
            while offset < len(data):
                room = stream.check_write()
                if room == 0:
                    with stream.subscribe() as ready:
                        ready.block()
                    continue
                chunk = data[offset : offset + room]
                stream.write(chunk)
                offset += len(chunk)
            stream.blocking_flush()
    except Err:
        # Dropped unfinished: the host sees the body as cut short.
        body.__exit__(None, None, None)
        return
    _finish(body)


def _finish(body: "wasi.OutgoingBody") -> None:
    try:
        wasi.OutgoingBody.finish(body, None)
    except Err:
        # The host reports a body that does not match its `content-length` through the
        # response's future as well, with the error code.
        pass


def _wait(future: "wasi.FutureIncomingResponse", what: str) -> "wasi.IncomingResponse":
    """The response ``future`` resolves to, or the HttpError it resolves to."""
    with future:
        while True:
            outcome = future.get()
            if outcome is not None:
                break
            with future.subscribe() as ready:
                ready.block()
    if isinstance(outcome, Ok) and isinstance(outcome.value, Ok):
        return outcome.value.value
    if isinstance(outcome, Ok):
        raise _failed(what, outcome.value.value)
    raise HttpError(f"{what}: the response was already taken")


def _read(incoming: "wasi.IncomingResponse", what: str) -> Response:
    with incoming:
        status = incoming.status()
        with incoming.headers() as fields:
            entries = fields.entries()
        try:
            body = incoming.consume()
        except Err:
            raise HttpError(f"{what}: the response has no body to read") from None
        chunks = []
        with body:
            with body.stream() as stream:
                while True:
                    try:
                        chunks.append(stream.blocking_read(_READ_SIZE))
                    except Err as error:
                        if isinstance(error.value, streams.StreamError_Closed):
                            break
                        raise HttpError(f"{what}: the response body broke off: {_stream_problem(error.value)}") from None
    headers: Dict[str, str] = {}
    for name, value in entries:
        text = value.decode("utf-8", errors="replace")
        key = name.lower()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Response(status, headers, b"".join(chunks))


def _failed(what: str, code: "wasi.ErrorCode") -> HttpError:
    return HttpError(f"{what}: {_describe(code)}", _code_name(code))


def _code_name(code: "wasi.ErrorCode") -> str:
    """``ErrorCode_HttpRequestDenied`` -> ``http-request-denied``."""
    name = type(code).__name__.split("_", 1)[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _describe(code: "wasi.ErrorCode") -> str:
    """The error code in words, with its payload if it has one."""
    words = _code_name(code).replace("-", " ")
    if words == "http request denied":
        return "the host denied the request"
    payload = getattr(code, "value", None)
    if payload is None:
        return words
    if isinstance(payload, str):
        return f"{words}: {payload}"
    details = ", ".join(f"{key}={value!r}" for key, value in vars(payload).items() if value is not None)
    return f"{words} ({details})" if details else words


def _stream_problem(error: "streams.StreamError") -> str:
    if isinstance(error, streams.StreamError_Closed):
        return "the stream was closed"
    with error.value as cause:
        code = wasi.http_error_code(cause)
        return _describe(code) if code is not None else cause.to_debug_string()


def _header_problem(error: "wasi.HeaderError") -> str:
    if isinstance(error, wasi.HeaderError_Forbidden):
        return "may not be set by a guest"
    if isinstance(error, wasi.HeaderError_Immutable):
        return "cannot be changed"
    return "is not valid HTTP"


def _charset(content_type: str) -> Optional[str]:
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None
