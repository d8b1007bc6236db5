"""The pure station: a manual clock, the in-memory store, no sockets and no files."""
