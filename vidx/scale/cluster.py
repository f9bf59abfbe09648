"""Find and join the Ray cluster a job runs on, or start a local one; fail in one line.

``--ray ADDRESS`` (or ``RAY_ADDRESS``, see :mod:`vidx.scale.address`) joins a running cluster;
``--workers N`` alone starts a local instance. Joining goes:

1. the address's syntax (:func:`vidx.scale.address.parse_address`, also run on ``--ray`` by
   the option's check, so a bad one is refused while the job is planned);
2. ``auto`` becomes the address of the cluster running here, or an error;
3. a probe (:func:`vidx.scale.probe.probe`) within ``--ray-timeout`` seconds: a TCP connect
   and, for a GCS, the first gRPC call a driver makes. A port where nothing listens, a host
   that does not answer and a server that is not Ray are refused here, before Ray is called:
   ``ray.init`` waits on them for minutes and prints its own log lines while it does;
4. ``ray.init`` in a thread of its own, given ``--ray-timeout`` seconds again to finish (a gRPC
   server that is not a Ray cluster, a cluster that hangs).

Each failure is an :class:`OptionError` naming the address (``--ray``'s, or ``RAY_ADDRESS=``).
Ray logs only errors and forwards no worker output unless the caller asked for the libraries'
output in full (``vidx -v``, :func:`vidx.quiet.libraries_loud`).

This module does not import Ray at module level: :func:`import_ray` does, when a job needs it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from vidx.errors import OptionError
from vidx.quiet import libraries_loud
from vidx.scale.address import ENV, Address, parse_address
from vidx.scale.probe import probe

if TYPE_CHECKING:
    from vidx.options import RunOptions

RAY_HINT = "needs Ray, which is not installed: pip install 'vidx[ray]'"


def cluster_address(options: RunOptions) -> Address | None:
    """The address the job joins: ``--ray``, else ``RAY_ADDRESS``; ``auto`` gives way to
    ``RAY_ADDRESS`` as it does in ``ray.init``. None: start a local instance."""
    env = os.environ.get(ENV, "").strip()
    given = options.ray.strip() if options.ray is not None else None
    if env and given in (None, "auto"):
        return parse_address(env, from_env=True)
    return None if given is None else parse_address(given)


def import_ray(options: RunOptions | None = None) -> Any:
    """The ``ray`` module, or a one-line OptionError saying how to install it (naming
    ``--ray`` when it was given, else ``--workers``)."""
    try:
        import ray
    except ImportError:
        param = "ray" if options is not None and options.ray is not None else "workers"
        raise OptionError(RAY_HINT, param=param) from None
    return ray


def connect(ray: Any, options: RunOptions, threads: int) -> bool:
    """Join ``--ray``/``RAY_ADDRESS`` or start a local instance; True when the caller must
    call ``ray.shutdown()`` (we connected or started it)."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {}
    if not libraries_loud():
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    address = cluster_address(options)
    if address is None or address.kind == "local":
        workers = max(1, options.workers)
        cpus = {"num_cpus": workers * threads} if address is None else {}
        ray.init(address="local", include_dashboard=False, **cpus, **quiet)
        return True
    target = _reachable(address, options.ray_timeout)
    _init_within(ray, address, options.ray_timeout, address=target, **quiet)
    return True


def _reachable(address: Address, timeout: float) -> str:
    """The address to hand ``ray.init``, once a probe found a Ray cluster answering there."""
    if address.kind == "client":
        from ray._private.utils import get_ray_client_dependency_error

        if get_ray_client_dependency_error() is not None:
            raise address.error("the Ray Client needs pip install 'ray[client]'")
    target = _running_here(address) if address.kind == "auto" else address
    why = probe(target.host, target.port, timeout, gcs=target.kind == "gcs")
    if why is not None:
        found = "" if target is address else f"the cluster found at {target.text}: "
        raise address.error(found + why)
    return target.text


def _running_here(address: Address) -> Address:
    """``auto``: the cluster ``ray start`` left on this machine (Ray's own lookup)."""
    from ray._private.services import canonicalize_bootstrap_address_or_die

    try:
        found = canonicalize_bootstrap_address_or_die("auto")
    except (ConnectionError, ValueError):
        raise address.error(
            "no running Ray cluster found on this machine (start one with ray start --head, "
            "or give HOST:PORT)"
        ) from None
    return parse_address(found, from_env=address.from_env)


def _init_within(ray: Any, where: Address, timeout: float, **kwargs: Any) -> None:
    """``ray.init(**kwargs)`` in a thread of its own, given ``timeout`` seconds; a join that
    finishes after we gave up is shut down again."""
    state: dict[str, Any] = {"gave_up": False}
    lock = threading.Lock()

    def join() -> None:
        try:
            ray.init(**kwargs)
        except Exception as exc:  # Ray's ConnectionError, RuntimeError, ValueError ...
            state["error"] = exc
            return
        with lock:
            if state["gave_up"]:
                ray.shutdown()

    thread = threading.Thread(target=join, name="vidx-ray-join", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        if thread.is_alive():
            state["gave_up"] = True
            raise where.error(f"the Ray cluster did not answer within {timeout:g} s")
    if "error" in state:
        first = (str(state["error"]).strip().splitlines() or [type(state["error"]).__name__])[0]
        raise where.error(f"cannot join the Ray cluster: {first}")
