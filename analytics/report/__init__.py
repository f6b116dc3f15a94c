"""The HTML report."""

from analytics.report.build import build_report, nice_bucket_ms

__all__ = ["build_report", "nice_bucket_ms"]
