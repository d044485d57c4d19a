"""The values and the decisions: usage, state and alerts, what is due and how it is worded.
Pure: imports nothing else of the watcher and does no I/O."""
