"""Test SMTP: one configuration tried step by step, and its report."""
