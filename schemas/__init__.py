"""Schema sources: values.schema.json is generated from schemas/values_schema.py by schemas/build.py."""
