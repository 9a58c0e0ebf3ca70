"""cute-mla benchmarks: decode timings against ceilings measured in the same run (see README.md)."""
