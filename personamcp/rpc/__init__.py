"""JSON-RPC 2.0 protocol layer: registry, dispatcher, WebSocket consumer, HTTP view, OpenRPC."""
