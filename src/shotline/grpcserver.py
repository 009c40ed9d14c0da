"""gRPC plumbing shared by the query and encoder APIs.

Every server answers the standard health check and server reflection (grpcurl works), times
each method into one latency histogram, maps `BadInput` to INVALID_ARGUMENT and `NotFound` to
NOT_FOUND with the error's message, checks an optional bearer token, and drains on shutdown:
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
from shotline.errors import BadInput, ShotlineError, TransientError

log = logs.get("shotline.grpc")

RPC_LATENCY = Histogram(
    "shotline_grpc_request_duration_seconds", "gRPC method latency", ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_REQUESTS = Counter("shotline_grpc_requests_total", "gRPC requests", ["service", "method", "code"])


class NotFound(ShotlineError):
    """The request names something that does not exist (unknown label, shot, video)."""


def _method_name(full: str) -> str:
    return full.rsplit("/", 1)[-1]


def guarded(service: str, fn: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
    """Wrap a unary handler: error mapping + latency metrics."""
    method = fn.__name__

    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
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


class BearerAuth(grpc.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every call except health and reflection."""

    OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, token: str):
        self._expected = f"Bearer {token}"

        def deny(_request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        if handler_call_details.method.startswith(self.OPEN):
            return continuation(handler_call_details)
        md = dict(handler_call_details.invocation_metadata or ())
        if md.get("authorization") != self._expected:
            return self._deny
        return continuation(handler_call_details)


class GrpcServer:
    def __init__(self, address: str, service_names: Iterable[str], *, token: str | None = None,
                 max_workers: int = 16, max_message_bytes: int = 64 * 1024 * 1024):
        interceptors = [BearerAuth(token)] if token else []
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=interceptors,
            options=[("grpc.max_receive_message_length", max_message_bytes),
                     ("grpc.max_send_message_length", max_message_bytes),
                     ("grpc.so_reuseport", 0)],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names = list(service_names)
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC server to {address}")

    def start(self) -> GrpcServer:
        self.server.start()
        for name in ["", *self.service_names]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting (health NOT_SERVING), drain in-flight calls for `grace` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait(grace + 1)
