"""Speed benchmarks: each module reports ratios against a baseline measured in the same run."""
