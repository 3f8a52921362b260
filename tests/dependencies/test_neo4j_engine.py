"""The RENDERED Neo4j schema (schema.cypher from ConfigMap qmtl-neo4j-schema) on a real Neo4j 5
Community server (tests/engines; the session's shared server, auth on, user neo4j): applied twice, it
leaves exactly QMTL's constraint and indexes, enforces node_id uniqueness, and the statement QMTL itself
ships (Neo4j 4 syntax) is what Neo4j 5 rejects. The dagmanager's user from the rendered QMTL config logs
in; a wrong password does not."""

from __future__ import annotations

from urllib.parse import urlsplit

import neo4j
import neo4j.exceptions as neo4j_exceptions
import pytest

from tests.dependencies.test_neo4j_render import QMTL_SCHEMA, statements
from tests.harness import render_chart
from tests.harness.objects import qmtl_config

pytestmark = pytest.mark.engines

VALUES: dict = {}
# QMTL's own statement (hyophyop/qmtl neo4j_init.py): Neo4j 4 syntax.
QMTL_NEO4J4_CONSTRAINT = "CREATE CONSTRAINT compute_pk IF NOT EXISTS ON (c:ComputeNode) ASSERT c.node_id IS UNIQUE"


@pytest.fixture(scope="module")
def rendered():
    return render_chart(VALUES)


@pytest.fixture(scope="module")
def server(neo4j_server):
    # the session's shared server (a start takes 15-40 s): its password stands in for Secret qmtl-neo4j's,
    # whose wiring into NEO4J_AUTH and the dagmanager's config test_neo4j_render.py checks
    return neo4j_server()


def schema(session) -> dict[str, tuple[str, str, str]]:
    found = {}
    for row in session.run("SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties"):
        found[row["name"]] = (
            "UNIQUE" if "UNIQUENESS" in row["type"] else row["type"],
            row["labelsOrTypes"][0],
            row["properties"][0],
        )
    for row in session.run("SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint"):
        if row["owningConstraint"] is None and row["labelsOrTypes"]:
            found[row["name"]] = ("INDEX", row["labelsOrTypes"][0], row["properties"][0])
    return found


@pytest.fixture(scope="module")
def applied(server, rendered):
    stmts = statements(rendered.get("ConfigMap", "qmtl-neo4j-schema")["data"]["schema.cypher"])
    with server.driver() as driver, driver.session() as session:
        for stmt in stmts:
            session.run(stmt).consume()
        first = schema(session)
        for stmt in stmts:  # a second run (post-upgrade) changes nothing
            summary = session.run(stmt).consume()
            assert summary.counters.contains_system_updates is False, stmt
        second = schema(session)
    return first, second


def test_the_rendered_schema_gives_exactly_qmtls_constraint_and_indexes(applied) -> None:
    first, second = applied
    assert {k: v for k, v in first.items() if k in QMTL_SCHEMA} == QMTL_SCHEMA
    assert second == first


def test_node_id_is_unique(server, applied) -> None:
    with server.driver() as driver, driver.session() as session:
        session.run("MERGE (:ComputeNode {node_id: 'qmtl-engine-dup'})").consume()
        with pytest.raises(neo4j_exceptions.ConstraintError):
            session.run("CREATE (:ComputeNode {node_id: 'qmtl-engine-dup'})").consume()
        session.run("MATCH (n:ComputeNode {node_id: 'qmtl-engine-dup'}) DELETE n").consume()


def test_qmtls_own_neo4j4_statement_is_rejected_by_neo4j_5(server) -> None:
    with server.driver() as driver, driver.session() as session, pytest.raises(neo4j_exceptions.CypherSyntaxError):
        session.run(QMTL_NEO4J4_CONSTRAINT).consume()


def test_the_dagmanager_logs_in_with_its_config_and_a_wrong_password_is_refused(server, rendered) -> None:
    config = qmtl_config(rendered)["dagmanager"]
    assert urlsplit(config["neo4j_dsn"]).scheme == "bolt"
    password = server.password
    with neo4j.GraphDatabase.driver(server.bolt_uri, auth=(config["neo4j_user"], password)) as driver:
        driver.verify_connectivity()
    with (
        neo4j.GraphDatabase.driver(server.bolt_uri, auth=(config["neo4j_user"], "not-" + password)) as driver,
        pytest.raises(neo4j_exceptions.AuthError),
    ):
        driver.verify_connectivity()
