"""Tooling, off the server's import path: benchmarks, the demo, their stdio client and the shared scenarios."""
