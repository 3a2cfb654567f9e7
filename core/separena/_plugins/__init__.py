"""The core's own hook implementations, registered like any other plugin."""
