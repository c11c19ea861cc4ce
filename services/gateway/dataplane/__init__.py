"""The public data plane: the listener, framing, the upstream pool and the request pipeline."""
