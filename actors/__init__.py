"""actors: a small supervised actor runtime on anyio (asyncio, uvloop, trio)."""
