"""One station over real sockets: the link, the runtime, the control API, the CLI, files."""
