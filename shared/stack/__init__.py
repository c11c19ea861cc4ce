"""The local stack: the embedded tansu broker and every registered service as OS processes."""
