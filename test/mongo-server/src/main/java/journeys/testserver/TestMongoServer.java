package journeys.testserver;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * A MongoDB-wire server for the test suite. Prints "LISTENING host:port" once bound, then
 * serves until its stdin closes (the parent test process went away, however it ended) or it
 * is signalled, so no server outlives the tests that started it.
 */
public final class TestMongoServer {
    /**
     * The version the server announces. The Node.js driver 7 refuses servers below wire
     * version 9 (MongoDB 4.4), and mongo-java-server's own MONGO_5_0 announces 8; the
     * commands the store uses are all older than 4.4, so announcing 4.4 claims nothing new.
     */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    public static void main(String[] args) throws IOException {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        MongoServer server = new MongoServer(new MemoryBackend().version(REPORTED_VERSION));
        server.bind(host, port);
        InetSocketAddress address = server.getLocalAddress();
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        System.out.println("LISTENING " + address.getHostString() + ":" + address.getPort());
        System.out.flush();
        InputStream in = System.in;
        while (in.read() != -1) {
            // nothing to read; waiting for end of input
        }
        server.shutdownNow();
        System.exit(0);
    }
}
