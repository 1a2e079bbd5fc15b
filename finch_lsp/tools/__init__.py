"""Benchmarks, the demo and their stdio client: tooling, off the server's import path."""
