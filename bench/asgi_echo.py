"""A bare ASGI WebSocket JSON-RPC echo: the ceiling of an ASGI server with no framework.

Used by bench/rpc_throughput.py as the floor of the socket path on daphne and on uvicorn
(``daphne bench.asgi_echo:app`` / ``uvicorn bench.asgi_echo:app``): it parses each frame,
answers with the request's params as the result, and does nothing else.
"""

import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            request = json.loads(message.get("text") or message.get("bytes"))
            reply = {"jsonrpc": "2.0", "id": request.get("id"), "result": request.get("params")}
            await send({"type": "websocket.send", "text": json.dumps(reply)})
        elif kind == "websocket.disconnect":
            return
