import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import RetryCore
import RetryJournal
import RetryRules
import ServiceLifecycle
import WebhookAuth

/// Builds and runs the daemon. Secrets, rules, the journal lock and the HDP client are set up
/// first, so configuration problems stop the start at once; then the admin listener and the
/// ``AgentCore`` run in one `ServiceGroup`. The core replays the journal (while `/readyz` answers
/// 503) and then runs the journal writer, dispatcher, rules reloader and webhook listener.
///
/// Shutdown (SIGTERM/SIGINT) runs in reverse order: new deliveries get 503, the webhook listener
/// stops, calls in flight finish, then the journal is flushed and closed, then the admin listener.
public enum AgentApplication {
    /// How long a graceful shutdown may take before what is left is cancelled.
    public static let gracefulShutdownLimit: Duration = .seconds(25)

    /// Runs until SIGTERM or SIGINT.
    public static func run(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger
    ) async throws {
        let metrics = AgentMetrics(version: RetryAgentVersion.current)
        let readiness = Readiness()

        // Secrets: never in the file, never logged.
        let apiKey = try Secrets.hdpAPIKey(configuration: configuration, environment: environment, logger: logger)
        var dryRun = configuration.dryRun
        if apiKey == nil, !dryRun {
            dryRun = true
            logger.warning(
                "NO HDP API KEY: running in DRY-RUN mode. Decisions are journaled; no retry is sent. Set HDP_API_KEY or hdp.api_key_file."
            )
        } else if dryRun {
            logger.warning("dry-run mode: decisions are journaled; no retry is sent")
        }
        let secrets = try Secrets.webhookSecrets(configuration: configuration, environment: environment, logger: logger)
        let scheme = configuration.webhook.scheme
        if scheme == .none { logger.warning("webhook.signature.scheme is none: deliveries are NOT authenticated") }
        let verifier: WebhookVerifier
        do {
            verifier = try WebhookVerifier(
                settings: SignatureSettings(
                    scheme: scheme, header: configuration.webhook.header,
                    timestampHeader: configuration.webhook.timestampHeader,
                    tolerance: configuration.webhook.tolerance, secrets: secrets.map(\.value)
                )
            )
        } catch {
            // Name the secret by where it came from, never by its value.
            let origin = error.position.flatMap { secrets.indices.contains($0 - 1) ? secrets[$0 - 1].origin : nil }
            throw ConfigurationError(["webhook signature: \(error.description)\(origin.map { " (\($0))" } ?? "")"])
        }
        if let url = URL(string: configuration.hdp.baseURL), url.scheme == "http", let host = url.host,
            !HostPort.isLoopbackHost(host)
        {
            logger.warning(
                "hdp.base_url is plain http to a host that is not this machine: the API key travels in clear; use https",
                metadata: ["hdp_base_url": "\(configuration.hdp.baseURL)"])
        }

        // Rules.
        let source: RulesSource =
            configuration.rules.pathIsExplicit
            ? .configured(configuration.rules.path) : .defaultPath(configuration.rules.path)
        let loaded: LoadedRules
        do {
            loaded = try await source.loadOffThePool().get()
        } catch {
            throw ConfigurationError(["rules: \(error.description)"])
        }
        for warning in loaded.warnings { logger.warning("rules warning", metadata: ["rules_diagnostic": "\(warning)"]) }
        if loaded.files.isEmpty {
            logger.notice("rules path \(configuration.rules.path) does not exist: using the built-in HDP rule set")
        } else {
            logger.info(
                "rules loaded",
                metadata: ["files": "\(loaded.files.joined(separator: ","))", "rules": "\(loaded.ruleSet.rules.count)"])
        }
        let store = RuleStore(loaded.ruleSet)
        metrics.rulesReload(success: true, loaded: loaded.ruleSet.rules.count)
        metrics.registerDecisions(for: loaded.ruleSet)
        readiness.markRulesLoaded()
        let reloader = RulesReloader(
            source: source, store: store, watch: configuration.rules.watch && !loaded.files.isEmpty, logger: logger
        ) { result in
            metrics.rulesReload(success: result.succeeded, loaded: result.succeeded ? result.ruleCount : nil)
            if result.succeeded { metrics.registerDecisions(for: store.current) }
        }

        // Journal: take the lock now, so a second agent is refused at once; replay happens
        // inside the running service group, while /readyz answers 503. On PostgreSQL, the
        // database is migrated there instead (several agents share it: no lock).
        let backend: CoreBackend
        if let settings = configuration.postgresSettings {
            backend = .postgres(settings)
        } else {
            backend = .file(try JournalFile(path: configuration.journal.path))
        }
        let adminToken = try Secrets.adminToken(configuration: configuration, logger: logger)
        guard let listen = HostPort(configuration.listen), let adminListen = HostPort(configuration.adminListen) else {
            throw ConfigurationError(["listen addresses must be HOST:PORT"])
        }
        if !adminListen.isLoopback, adminToken == nil {
            logger.warning(
                "the admin listener is not local and admin.token_file is not set: /-/reload and /tasks are open")
        }

        // HDP client.
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let client: HTTPHDPClient
        do {
            client = try HTTPHDPClient(
                baseURL: configuration.hdp.baseURL, apiKey: apiKey, timeout: configuration.hdp.timeout,
                httpClient: httpClient, logger: logger
            )
        } catch {
            try? await httpClient.shutdown()
            throw ConfigurationError(["hdp: \(error)"])
        }

        let engineHandle = EngineHandle()
        let reconcilerHandle = ReconcilerHandle()
        let adminRouter = Router()
        AdminRoutes(
            engine: { engineHandle.engine }, metrics: metrics, readiness: readiness,
            reload: { await reloader.reload() }, token: adminToken,
            reconcile: { await reconcilerHandle.reconciler?.requestSweep() }
        ).register(on: adminRouter)
        let adminApp = Application(
            router: adminRouter,
            server: .limitedHTTP1(limits: configuration.webhook.limits, gauge: metrics.listenerGauge(.admin)),
            configuration: .init(
                address: .hostname(adminListen.host, port: adminListen.port), serverName: "hdp-retry-agent-admin"),
            onServerRunning: { channel in
                logger.notice(
                    "admin listener up",
                    metadata: ["address": "\(channel.localAddress?.description ?? adminListen.description)"])
            },
            logger: logger
        )
        let parser = NoticeParser(
            fields: NoticeParser.FieldPaths(
                taskID: configuration.webhook.fields["task_id"], status: configuration.webhook.fields["status"],
                error: configuration.webhook.fields["error"], timestamp: configuration.webhook.fields["timestamp"]
            )
        )
        let core = AgentCore(
            configuration: configuration, dryRun: dryRun, backend: backend, store: store, reloader: reloader,
            verifier: verifier, parser: parser, client: client, listen: listen, metrics: metrics,
            readiness: readiness, engineHandle: engineHandle, reconcilerHandle: reconcilerHandle, logger: logger
        )

        logger.notice(
            "hdp-retry-agent starting",
            metadata: [
                "version": "\(RetryAgentVersion.current)", "hdp_base_url": "\(configuration.hdp.baseURL)",
                "dry_run": "\(dryRun)",
                "store": "\(configuration.store.backend.rawValue)",
                "journal": "\(configuration.postgresSettings?.url.redacted ?? configuration.journal.path)",
                "fsync": "\(configuration.journal.fsync.rawValue)",
            ]
        )
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: core), .init(service: adminApp)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Within the 30 s a service manager gives before SIGKILL: work in flight is bounded by
        // hdp.timeout and the journal's last flush by a few tries; anything still running then is
        // cancelled rather than killed.
        groupConfiguration.maximumGracefulShutdownDuration = Self.gracefulShutdownLimit
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try? await httpClient.shutdown()
        logger.notice("hdp-retry-agent stopped cleanly")
    }
}

/// Placed after the webhook listener so that it is told to shut down first: from then on new
/// deliveries are answered 503 with `Retry-After` while the listener drains.
struct StopAccepting: Service {
    let engine: RetryEngine

    func run() async throws {
        try? await gracefulShutdown()
        engine.beginStopping()
    }
}
