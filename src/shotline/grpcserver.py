"""gRPC plumbing shared by the query and encoder APIs.

Every server answers the standard health check and server reflection (grpcurl works), times
each method into one latency histogram, maps `BadInput` to INVALID_ARGUMENT and `NotFound` to
NOT_FOUND with the error's message, checks bearer tokens and their roles (`shotline.auth`; off
when the service has none), and drains on shutdown:
health goes NOT_SERVING first, then `server.stop(grace)` lets in-flight calls finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from shotline import logs
from shotline.auth import Authenticator
from shotline.errors import BadInput, ShotlineError, TransientError

log = logs.get("shotline.grpc")

RPC_LATENCY = Histogram(
    "shotline_grpc_request_duration_seconds", "gRPC method latency", ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUTH_DENIED = Counter("shotline_grpc_auth_denied_total", "Calls refused by authentication or authorisation",
                      ["reason"])
RPC_REQUESTS = Counter("shotline_grpc_requests_total", "gRPC requests", ["service", "method", "code"])


class NotFound(ShotlineError):
    """The request names something that does not exist (unknown label, shot, video)."""


class CallerGone(ShotlineError):
    """The caller's deadline passed or it cancelled: the handler stops before its next costly step."""


def still_wanted(context: grpc.ServicerContext | None) -> None:
    """Between a handler's costly steps: stop (CANCELLED) once nobody waits for the answer."""
    if context is not None and not context.is_active():
        raise CallerGone("the caller's deadline passed or it cancelled")


def _method_name(full: str) -> str:
    return full.rsplit("/", 1)[-1]


class Unparseable:
    """What a handler receives for request bytes that are not its message: gRPC itself would answer
    those INTERNAL before any of our code ran; `guarded` turns them into INVALID_ARGUMENT."""

    def __init__(self, type_name: str):
        self.type_name = type_name


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    cls = getattr(deserializer, "__self__", None)
    type_name = getattr(getattr(cls, "DESCRIPTOR", None), "full_name", "request")

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # noqa: BLE001 - any decode failure is the caller's bad input
            return Unparseable(type_name)

    return parse


def _unparseable(item: Unparseable) -> BadInput:
    return BadInput("bad_request", f"the request is not a valid {item.type_name} message")


def _checked_stream(requests: Iterable[Any]) -> Iterable[Any]:
    for item in requests:
        if isinstance(item, Unparseable):
            raise _unparseable(item)
        yield item


def servicer_handlers(add_to_server: Callable[[Any, Any], None], servicer: Any) -> tuple[str, dict[str, Any]]:
    """The (service name, method handlers) a generated `add_XServicer_to_server` would register,
    so a server can adjust them (`register`) before they go live."""

    class _Capture:
        def add_generic_rpc_handlers(self, handlers: Any) -> None:
            pass

        def add_registered_method_handlers(self, name: str, handlers: Any) -> None:
            self.name, self.handlers = name, dict(handlers)

    cap = _Capture()
    add_to_server(servicer, cap)
    return cap.name, cap.handlers


def register(server: Any, name: str, handlers: dict[str, Any]) -> None:
    """Register method handlers on a grpc (or grpc.aio) server with tolerant request parsing."""
    handlers = {m: h._replace(request_deserializer=_tolerant(h.request_deserializer)) for m, h in handlers.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)


def _status_of(e: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(e, BadInput):
        return grpc.StatusCode.INVALID_ARGUMENT, e.message
    if isinstance(e, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(e)
    if isinstance(e, TransientError):
        return grpc.StatusCode.UNAVAILABLE, str(e)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}"


def guarded(service: str, fn: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
    """Wrap a handler: error mapping + latency metrics."""
    method = fn.__name__

    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            if isinstance(request, Unparseable):
                raise _unparseable(request)
            if hasattr(request, "__next__"):  # a client stream: each message is checked as it is read
                request = _checked_stream(request)
            return fn(self, request, context)
        except BadInput as e:
            code = grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, e.message)
        except NotFound as e:
            code = grpc.StatusCode.NOT_FOUND
            context.abort(code, str(e))
        except TransientError as e:
            code = grpc.StatusCode.UNAVAILABLE
            context.abort(code, str(e))
        except CallerGone as e:
            code = grpc.StatusCode.CANCELLED
            context.abort(code, str(e))
        except Exception as e:  # noqa: BLE001 - a bug answers INTERNAL, the server lives on
            code = grpc.StatusCode.INTERNAL
            log.error("unhandled error", method=method, error=repr(e))
            context.abort(code, f"internal error: {type(e).__name__}")
        finally:
            elapsed = time.perf_counter() - start
            RPC_LATENCY.labels(service, method, code.name).observe(elapsed)
            RPC_REQUESTS.labels(service, method, code.name).inc()

    wrapper.__name__ = method
    wrapper.__doc__ = fn.__doc__
    return wrapper


def guard_all(service: str) -> Callable[[type], type]:
    """Class decorator: apply `guarded` to every public method defined on the servicer."""

    def deco(cls: type) -> type:
        for name, value in list(vars(cls).items()):
            if callable(value) and name[:1].isupper():
                setattr(cls, name, guarded(service, value))
        return cls

    return deco


def _denial(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def deny(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(deny)


def _check(auth: Authenticator, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
    """None when the call may go on, else a handler that refuses it (the request is never parsed)."""
    d = auth.decide(details.method, details.invocation_metadata)
    if d.code == "ok":
        return None
    code = grpc.StatusCode.UNAUTHENTICATED if d.code == "unauthenticated" else grpc.StatusCode.PERMISSION_DENIED
    AUTH_DENIED.labels(d.code).inc()
    return _denial(code, d.message)


class _SyncAuth(grpc.ServerInterceptor):
    def __init__(self, auth: Authenticator):
        self.auth = auth

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        return _check(self.auth, handler_call_details) or continuation(handler_call_details)


def _options(max_message_bytes: int, share_port: bool) -> list[tuple[str, int]]:
    # SO_REUSEPORT only where processes share a port on purpose: otherwise a second server on the
    # same port would silently take half the connections instead of failing to start.
    return [("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", int(share_port))]


def _reflected(service_names: list[str]) -> list[str]:
    return [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]


class GrpcServer:
    def __init__(self, address: str, service_names: Iterable[str], *, auth: Authenticator | None = None,
                 credentials: grpc.ServerCredentials | None = None, reflect: bool = True,
                 max_workers: int = 16, max_message_bytes: int = 64 * 1024 * 1024, share_port: bool = False):
        interceptors = [_SyncAuth(auth)] if auth else []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                                  interceptors=interceptors, options=_options(max_message_bytes, share_port))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names = list(service_names)
        if reflect:
            reflection.enable_server_reflection(_reflected(self.service_names), self.server)
        self.port = (self.server.add_secure_port(address, credentials) if credentials
                     else self.server.add_insecure_port(address))
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC server to {address}")

    def add_servicer(self, add_to_server: Callable[[Any, Any], None], servicer: Any) -> None:
        register(self.server, *servicer_handlers(add_to_server, servicer))

    def start(self) -> GrpcServer:
        self.server.start()
        for name in ["", *self.service_names]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting (health NOT_SERVING), drain in-flight calls for `grace` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait(grace + 1)

