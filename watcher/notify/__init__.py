"""Sending alerts through Apprise: which targets, which alert goes where, and sending."""
