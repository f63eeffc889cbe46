"""Operator tooling: sharing the report, RBAC manifests, CI examples."""
