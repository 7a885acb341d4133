"""docs/benchmarks.md from benchmarks/results/*.json: a section per benchmark, one targets table."""
