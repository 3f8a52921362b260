"""scripts/validate: check a qmtl values set (schema, aggregated check, render, per-service needs,
optionally the live endpoints). See cli.py for the command line and online.py for the probes."""
