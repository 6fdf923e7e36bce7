"""Speed benchmarks: each module reports ratios against a baseline measured in the same run."""

import os


def isolate_aws_env() -> None:
    """Nothing a benchmark runs may reach a real account: fake defaults, no profile or endpoint."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fake-secret-for-benchmarks")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for k in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_INVOICING",
    ):
        os.environ.pop(k, None)
