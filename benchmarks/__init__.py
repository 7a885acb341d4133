"""Benchmarks: scripts that measure the project and write results/*.json, and the page they feed.

Each script runs on its own (``python benchmarks/<name>.py``); ``page/`` renders
docs/benchmarks.md from their JSON (``python benchmarks/report.py``).
"""
