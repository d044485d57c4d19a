"""The background service: the check loop, systemd's notify protocol, journal lines, and the
units it is installed with."""
