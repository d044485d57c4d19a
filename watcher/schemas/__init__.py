"""The JSON Schemas (draft 2020-12) of the --json documents, shipped as package data."""
