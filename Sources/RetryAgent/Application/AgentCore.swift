import Foundation
import Hummingbird
import Logging
import RetryCore
import RetryJournal
import RetryPostgres
import RetryRules
import ServiceLifecycle
import Synchronization
import WebhookAuth

/// The engine, once the journal is replayed; `nil` before (the admin routes answer 503 then).
public final class EngineHandle: Sendable {
    private let current = Mutex<RetryEngine?>(nil)

    public init() {}

    public var engine: RetryEngine? { current.withLock { $0 } }

    func publish(_ engine: RetryEngine) { current.withLock { $0 = engine } }
}

/// Where the core keeps its state.
enum CoreBackend: Sendable {
    /// The file journal, its lock taken.
    case file(JournalFile)
    /// A PostgreSQL database shared with other agents.
    case postgres(PostgresStoreSettings)
}

/// Replays the journal (or migrates the database), then runs everything that depends on the
/// state in an inner `ServiceGroup`: the store (journal writer, or database pool), dispatcher,
/// rules reloader, webhook listener, and the `StopAccepting` gate. Graceful shutdown of the outer
/// group is passed on to the inner one.
struct AgentCore: Service {
    let configuration: AgentConfiguration
    let dryRun: Bool
    let backend: CoreBackend
    let store: RuleStore
    let reloader: RulesReloader
    let verifier: WebhookVerifier
    let parser: NoticeParser
    let client: any HDPClient
    let listen: HostPort
    let metrics: AgentMetrics
    let readiness: Readiness
    let engineHandle: EngineHandle
    let reconcilerHandle: ReconcilerHandle
    let logger: Logger

    func run() async throws {
        switch backend {
        case .file(let file): try await runOnFile(file)
        case .postgres(let settings): try await runOnPostgres(settings)
        }
    }

    private func runOnFile(_ file: JournalFile) async throws {
        let started = ContinuousClock.now
        let (ledger, report) = try await FileStore.replay(file, dedupWindow: configuration.webhook.dedupWindow)
        if report.truncatedBytes > 0 {
            metrics.journalTruncatedBytes.increment(by: Int64(report.truncatedBytes))
            logger.warning(
                "journal ended with a torn record (a crash mid-write); it was cut off and kept aside",
                metadata: ["bytes": "\(report.truncatedBytes)", "saved_to": "\(report.tornTailSavedTo ?? "-")"]
            )
        }
        logger.info(
            "journal replayed",
            metadata: [
                "journal": "\(file.path)", "records": "\(report.records)", "tasks": "\(ledger.tasks.count)",
                "pending": "\(ledger.openEpisodeCount)", "interrupted": "\(ledger.interruptedTasks.count)",
                "seconds": "\((ContinuousClock.now - started).secondsDouble)",
            ]
        )
        metrics.journalBytes.set(Double(file.size))
        let metrics = self.metrics
        let logger = self.logger
        let writer = JournalWriter(
            file: file, policy: configuration.journal.fsync, durableSeq: ledger.lastSeq, logger: logger
        ) { event in
            switch event {
            case .wrote(_, _, let fsyncSeconds, let size):
                if let fsyncSeconds { metrics.journalFsync.record(.nanoseconds(Int64(fsyncSeconds * 1e9))) }
                metrics.journalBytes.set(Double(size))
            case .compacted(let size):
                metrics.journalCompactions.increment()
                metrics.journalBytes.set(Double(size))
                logger.info("journal compacted", metadata: ["journal_bytes": "\(size)"])
            case .failed: metrics.journalWriteErrors.increment()
            case .compactionFailed: metrics.journalCompactionFailures.increment()
            case .recovered: break
            }
        }
        var storeSettings = FileStore.Settings()
        storeSettings.dedupWindow = configuration.webhook.dedupWindow
        storeSettings.retention = configuration.journal.retention
        storeSettings.compactAboveBytes = configuration.journal.compactAboveBytes
        let fileStore = FileStore(ledger: ledger, file: file, writer: writer, settings: storeSettings) { event in
            switch event {
            case .appended(let records): metrics.journalRecords.increment(by: Int64(records))
            case .compactionStarted(let tasks):
                logger.info("journal compaction started", metadata: ["tasks": "\(tasks)"])
            }
        }
        try await runServices(store: fileStore, breaker: ledger.breaker, front: [.init(service: writer)])
    }

    /// Runs the engine and the services around it on `store`; `front` comes first in the group
    /// (the store's own services: stopped last).
    func runServices(
        store retryStore: any RetryStore, breaker: BreakerSnapshot,
        front: [ServiceGroupConfiguration.ServiceConfiguration]
    ) async throws {
        let clock = SystemAgentClock()
        let metrics = self.metrics
        let logger = self.logger
        var settings = EngineSettings()
        settings.dispatch = configuration.dispatch
        settings.dispatch.confirmStatus = configuration.hdp.confirmStatus
        settings.dispatch.dryRun = dryRun
        settings.dispatch.breaker = configuration.circuitBreaker
        settings.retryAfterCap = configuration.retryAfterCap
        let store = self.store
        let engine = RetryEngine(
            store: retryStore, breaker: breaker, settings: settings, clock: clock, metrics: metrics,
            logger: logger, classify: { store.classify($0) }
        )
        engineHandle.publish(engine)
        readiness.markReplayed()

        let dispatcher = Dispatcher(engine: engine, client: client, clock: clock, metrics: metrics)
        let reconciler = Reconciler(
            sweep: ReconcileSweep(
                settings: configuration.effectiveReconcile, client: client, clock: clock, logger: logger),
            target: EngineSweepTarget(engine: engine), metrics: metrics.reconcile, logger: logger)
        reconcilerHandle.publish(reconciler)
        let webhookRouter = Router()
        WebhookHandler(
            verifier: verifier, parser: parser, engine: engine, maxBodyBytes: configuration.webhook.maxBodyBytes,
            clock: clock, metrics: metrics, logger: logger
        ).register(on: webhookRouter, path: configuration.webhook.path)
        let readiness = self.readiness
        let listen = self.listen
        let path = configuration.webhook.path
        let scheme = verifier.scheme
        let webhookApp = Application(
            router: webhookRouter,
            server: WebhookHandler.serverBuilder(
                maxBodyBytes: configuration.webhook.maxBodyBytes, limits: configuration.webhook.limits,
                gauge: metrics.listenerGauge(.webhook)),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "hdp-retry-agent"),
            onServerRunning: { channel in
                readiness.markListening()
                logger.notice(
                    "webhook listener up",
                    metadata: [
                        "address": "\(channel.localAddress?.description ?? listen.description)",
                        "path": "\(path)", "scheme": "\(scheme.rawValue)",
                    ]
                )
            },
            logger: logger
        )
        let inner = ServiceGroup(
            configuration: .init(
                services: front + [
                    .init(service: dispatcher),
                    .init(service: reconciler),
                    .init(service: reloader),
                    .init(service: webhookApp),
                    .init(service: StopAccepting(engine: engine)),
                ],
                gracefulShutdownSignals: [],
                logger: logger
            )
        )
        // A nested group follows its parent's graceful shutdown by itself.
        try await inner.run()
    }
}
