"""Stream one reply: ``python chat.py URL PERSONA MESSAGE`` (API key in $PERSONAMCP_KEY).

Prints the deltas as they arrive, then the turn result as one JSON line.
"""

import asyncio
import json
import os
import sys
from pathlib import Path

try:
    import personamcp_client
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import personamcp_client


async def main(url: str, persona: str, message: str) -> int:
    async with personamcp_client.Client(url, os.environ.get("PERSONAMCP_KEY")) as client:
        stream = client.stream(message, persona_id=persona)
        async for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
        result = await stream.result()
        sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: chat.py URL PERSONA MESSAGE   (API key in $PERSONAMCP_KEY)")
    try:
        sys.exit(asyncio.run(main(*sys.argv[1:])))
    except personamcp_client.RpcError as exc:
        sys.exit(f"error {exc.code}: {exc.message}")
