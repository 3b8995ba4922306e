package journeys.testserver;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import de.bwaldvogel.mongo.wire.message.MongoQuery;
import io.netty.channel.Channel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;

/**
 * A MongoDB-wire server for the test suite: mongo-java-server with its in-memory backend.
 * Usage: TestMongoServer [host] [port]  (port 0 picks a free one).
 *
 * <p>Prints one line, "LISTENING host:port", once bound, then serves until its stdin closes
 * or it is signalled. Stdin closing is what ends it when the parent test process dies
 * without stopping it, so no server outlives the run that started it.
 */
public final class TestMongoServer {
    /**
     * The Node.js driver 7 refuses servers below wire version 9 (MongoDB 4.4), and
     * mongo-java-server's newest preset, MONGO_5_0, announces 8. The commands the tests use
     * all predate 4.4, so announcing 4.4 claims nothing the server lacks.
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

    /**
     * MongoDB applies a findAndModify, or an update whose filter names a version, atomically
     * per document, and answers with a snapshot; the package's claims and optimistic locks
     * rely on both. mongo-java-server runs commands of different connections on several
     * threads, and its answers hold the live documents, encoded only after the command has
     * returned: a reader could see a version with the fields of another (seen: six racing
     * version-checked increments left 2, then 5). Here one command runs at a time and its
     * answer is a deep copy taken before the next one starts.
     */
    static class SerializedBackend extends MemoryBackend {
        @Override
        public synchronized Document handleCommand(Channel channel, String database, String command, Document query) {
            return super.handleCommand(channel, database, command, query).cloneDeeply();
        }

        @Override
        public synchronized QueryResult handleQuery(MongoQuery query) {
            QueryResult result = super.handleQuery(query);
            List<Document> copies = new ArrayList<>();
            for (Document document : result) copies.add(document.cloneDeeply());
            return new QueryResult(copies, result.getCursorId());
        }

        @Override
        public synchronized Document handleMessage(MongoMessage message) {
            return super.handleMessage(message).cloneDeeply();
        }
    }

    /**
     * mongo-java-server uses an index only when a query names exactly the index's fields, so
     * a write guarded by its `_id` and a condition (the package's claims, counts and
     * optimistic locks) read every document of its collection, and the MongoDB figures of
     * the bench fell as the store grew. MongoDB answers such a query through the `_id`
     * index; so does this server now: the document with that `_id`, then the whole query
     * matched against it.
     */
    static final class IdLookupBackend extends SerializedBackend {
        @Override
        public MemoryDatabase openOrCreateDatabase(String databaseName) {
            return new MemoryDatabase(databaseName, getCursorRegistry()) {
                @Override
                protected MemoryCollection openOrCreateCollection(String collectionName, CollectionOptions options) {
                    return new IdLookupCollection(this, collectionName, options, cursorRegistry);
                }
            };
        }
    }

    static final class IdLookupCollection extends MemoryCollection {
        IdLookupCollection(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors) {
            super(database, name, options, cursors);
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int skip, int limit, int batchSize, Document fieldSelector) {
            Object id = query.get(getIdField());
            if (query.size() < 2 || id == null || id instanceof Document) {
                return super.queryDocuments(query, orderBy, skip, limit, batchSize, fieldSelector);
            }
            QueryResult byId = super.queryDocuments(new Document(getIdField(), id), null, 0, 0, 0, null);
            return matchDocumentsFromStream(StreamSupport.stream(byId.spliterator(), false), query, orderBy, skip, limit, batchSize, fieldSelector);
        }
    }

    private TestMongoServer() {}

    public static void main(String[] args) throws IOException {
        // Before the first logger exists: slf4j-simple reads its settings once, and at INFO
        // it reports every connection. It writes to stderr, leaving stdout to the one line.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        if (args.length > 2) {
            System.err.println("usage: TestMongoServer [host] [port]");
            System.exit(2);
        }
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;

        MongoServer server = new MongoServer(new IdLookupBackend().version(REPORTED_VERSION));
        server.bind(host, port);
        // The one shutdown path, for SIGTERM, SIGINT and the end of stdin alike.
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "test-mongo-shutdown"));

        InetSocketAddress address = server.getLocalAddress();
        System.out.println("LISTENING " + address.getHostString() + ":" + address.getPort());
        System.out.flush();

        while (System.in.read() != -1) {
            // Input is ignored; only its end matters.
        }
        System.exit(0);
    }
}
