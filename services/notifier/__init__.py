"""The push notifier: WebSocket delivery with history and recovery across replicas."""
