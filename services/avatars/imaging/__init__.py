"""Image work with libvips (pyvips): type sniffing, inspection, variants, perceptual hashes.

Everything heavy here runs in the CPU pool's worker processes (services.avatars.cpu), never on
the event loop.
"""
