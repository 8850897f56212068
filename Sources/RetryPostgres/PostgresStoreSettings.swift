import Foundation
import PostgresNIO

/// Settings of the PostgreSQL store (`store.postgres.*`, `webhook.dedup_window`,
/// `journal.retention`).
public struct PostgresStoreSettings: Sendable {
    /// Where the database is; a secret (it may hold a password): log ``PostgresURL/redacted``.
    public var url: PostgresURL
    /// Connections this agent opens at most (`store.postgres.pool_size`).
    public var poolSize = 8
    /// How long a claimed task stays this agent's without a word from it (`store.postgres.lease`).
    /// Another agent takes a task over once its lease has run out; it must outlast a work item
    /// (a status check and a retry call, each bounded by `hdp.timeout`).
    public var lease: Duration = .seconds(120)
    /// Delivery ids are remembered this long (`webhook.dedup_window`).
    public var dedupWindow: Duration = .seconds(86_400)
    /// Ended tasks not touched for this long are deleted (`journal.retention`).
    public var retention: Duration = .seconds(168 * 3600)
    /// How often the agent deletes what is past retention and the dedup window.
    public var maintenanceInterval: Duration = .seconds(600)
    /// How often an idle dispatcher looks for work other agents scheduled, or whose lease ran out.
    public var pollInterval: Duration = .seconds(1)
    /// A transaction that has not committed within this is given up (the delivery is answered 503).
    public var transactionTimeout: Duration = .seconds(10)
    /// Deliveries committed together at most.
    public var maxBatch = 128
    /// Delivery transactions one agent runs at once; more deliveries wait and join the next batch.
    public var concurrentBatches = 2

    public init(url: PostgresURL) {
        self.url = url
    }
}

/// A `postgres://` (or `postgresql://`) URL: `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…`.
///
/// `sslmode` is `disable`, `prefer` (the default: TLS when the server offers it), `require`,
/// `verify-ca` or `verify-full`. Whenever TLS is used the server's certificate chain is checked,
/// against the system's trust store or the CA certificates of `sslrootcert=PATH` (a PEM file, for a
/// private CA or a managed database's bundle); every mode but `verify-ca` also checks the host
/// name. `host=/path/to/dir` in the query connects over the Unix socket in that folder instead.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    /// Never logged.
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// A folder holding the server's Unix socket (`.s.PGSQL.PORT`), when given.
    public var socketDirectory: String?
    /// `sslrootcert`: a PEM file of the CA certificates to trust instead of the system's.
    public var rootCertificatePath: String?

    /// `sslmode`.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable
        case prefer
        case require
        /// TLS, the chain checked, the host name not (libpq's `verify-ca`).
        case verifyCA = "verify-ca"
        /// TLS, the chain and the host name checked (what `prefer` and `require` also do here).
        case verifyFull = "verify-full"
    }

    /// Reads `text`; `nil` with the reason when it is not a PostgreSQL URL. The reason never
    /// repeats the URL (it may hold a password).
    public static func parse(_ text: String) -> Result<PostgresURL, URLProblem> {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme.lowercased())
        else { return .failure(URLProblem("must be a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL")) }
        var socketDirectory: String?
        var sslMode = SSLMode.prefer
        var rootCertificatePath: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: item.value ?? "") else {
                    return .failure(URLProblem("sslmode must be disable, prefer, require, verify-ca or verify-full"))
                }
                sslMode = mode
            case "sslrootcert":
                guard let path = item.value, !path.isEmpty else {
                    return .failure(URLProblem("sslrootcert must name a PEM file of CA certificates"))
                }
                rootCertificatePath = path
            case "host":
                socketDirectory = item.value
            case "application_name", "connect_timeout":
                continue
            default:
                return .failure(
                    URLProblem("unknown URL parameter '\(item.name)' (sslmode, sslrootcert and host are read)"))
            }
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        // Decoded once, from the URL's own spelling: `components.user` is decoded already, and
        // decoding it again would turn a password's `%2541` into `A`.
        guard let user = components.percentEncodedUser.map({ $0.removingPercentEncoding ?? $0 }), !user.isEmpty
        else {
            return .failure(URLProblem("must name a user (postgres://USER@HOST/DATABASE)"))
        }
        let encodedDatabase = String(components.percentEncodedPath.drop { $0 == "/" })
        let database = encodedDatabase.removingPercentEncoding ?? encodedDatabase
        guard !database.isEmpty else { return .failure(URLProblem("must name a database (…/DATABASE)")) }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { return .failure(URLProblem("the port must be 1–65535")) }
        return .success(
            PostgresURL(
                host: host, port: port, user: user,
                password: components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 },
                database: database, sslMode: sslMode,
                socketDirectory: socketDirectory, rootCertificatePath: rootCertificatePath))
    }

    /// The URL as logs show it: `postgres://…@host:port/database`, without user or password.
    public var redacted: String { "postgres://…@\(host):\(port)/\(database)" }

    public var description: String { redacted }

    /// The client configuration for this URL, with at most `poolSize` connections.
    ///
    /// With `serverTimeout`, every session asks the server to give up a statement, a lock wait
    /// and an idle open transaction after that long (`statement_timeout`, `lock_timeout`,
    /// `idle_in_transaction_session_timeout`). A deadline on the client side cannot stop a
    /// statement already sent (the client waits for its answer), so this is what bounds a
    /// delivery stuck behind another session's row lock: it fails, and is answered 503.
    public func clientConfiguration(poolSize: Int, serverTimeout: Duration? = nil) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = PostgresClient.Configuration(
                unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)", username: user, password: password,
                database: database)
        } else {
            var verified = TLSConfiguration.makeClientConfiguration()
            verified.minimumTLSVersion = .tlsv12
            if let rootCertificatePath { verified.trustRoots = .file(rootCertificatePath) }
            if sslMode == .verifyCA { verified.certificateVerification = .noHostnameVerification }
            let tls: PostgresClient.Configuration.TLS
            switch sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(verified)
            case .require, .verifyCA, .verifyFull: tls = .require(verified)
            }
            configuration = PostgresClient.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        if let serverTimeout {
            let (seconds, attoseconds) = serverTimeout.components
            let milliseconds = String(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
            configuration.options.additionalStartupParameters = [
                ("statement_timeout", milliseconds), ("lock_timeout", milliseconds),
                ("idle_in_transaction_session_timeout", milliseconds),
            ]
        }
        return configuration
    }
}

/// Why a database URL was refused (never containing the URL).
public struct URLProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
