"""The asyncio shells around the pure station: link, runtime, control API, file transfer, CLI."""
