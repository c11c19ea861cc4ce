"""The virtual waiting room (docs/waitingroom.md)."""
