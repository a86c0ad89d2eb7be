"""The AgileNN offloading server: answers device requests with the Remote NN's logits over UDP.

``agilenn serve MODEL_DIR`` runs it; tests and the device command use the API here::

    handle = await start_server("export/", port=0)        # asyncio
    with ServerThread("export/") as server:                # from synchronous code
        client_addr = server.address

See docs/server.md for options, counters and limits, and docs/offload-protocol.md for the wire format.
"""

from agilenn_codegen.server.app import OffloadServer, ServerHandle, ServerOptions, load_model, start_server
from agilenn_codegen.server.decoder import Request, RequestDecoder, RequestError, decode_request
from agilenn_codegen.server.model import ModelSpec, ServedModel, parse_spec, read_meta
from agilenn_codegen.server.stats import ServerStats
from agilenn_codegen.server.thread import ServerThread

__all__ = [
    "ModelSpec",
    "OffloadServer",
    "Request",
    "RequestDecoder",
    "RequestError",
    "ServedModel",
    "ServerHandle",
    "ServerOptions",
    "ServerStats",
    "ServerThread",
    "decode_request",
    "load_model",
    "parse_spec",
    "read_meta",
    "start_server",
]
