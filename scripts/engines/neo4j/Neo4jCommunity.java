// Entry point for a Neo4j Community server assembled from Maven Central jars.
// Same as the distribution's org.neo4j.server.CommunityEntryPoint (not published to Maven Central).
// Run with the single-file source launcher:
//   java -cp 'lib/*' Neo4jCommunity.java --home-dir=HOME --config-dir=HOME/conf
public final class Neo4jCommunity {
    private Neo4jCommunity() {}

    public static void main(String[] args) {
        int status = org.neo4j.server.NeoBootstrapper.start(new org.neo4j.server.CommunityBootstrapper(), args);
        if (status != 0) {
            System.exit(status);
        }
    }
}
