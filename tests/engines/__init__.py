"""Real dependency servers for the engine tests (scripts/engines/install.sh installs them).

- servers.py: start_redis / start_postgres / start_kafka / start_minio / start_questdb / start_neo4j
- containers.py: the Redis and PostgreSQL servers from container images (testcontainers)
- fixtures.py: the pytest plugin (`pytest_plugins = ["tests.engines.fixtures"]`)
"""
