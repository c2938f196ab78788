"""Transports: move bytes between sockets and the sans-IO streams."""
