"""Flink adapters and job entry points; the only code here that imports pyflink."""
