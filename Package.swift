// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "hdp-retry-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hdp-retry-agent", targets: ["hdp-retry-agent"]),
        .executable(name: "hdp-sim", targets: ["hdp-sim"]),
        .library(name: "RetryAgent", targets: ["RetryAgent"]),
        .library(name: "HDPSimulator", targets: ["HDPSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // HMAC-SHA256, SHA-256, constant-time comparison and random bytes from the system OpenSSL.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // The journal checksum (CRC-32C) with the processor's own instruction, where it has one.
        .target(name: "CCRC32C"),
        // The pure core: task ids, notices, the journal's records, the ledger and its fold, every
        // decision, backoff, breaker, token bucket and the dispatch state machine. No networking,
        // no file or socket I/O, no clock reads: time comes in as a parameter.
        .target(
            name: "RetryCore",
            dependencies: [
                "COpenSSL",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The linear-time regular expression engine the rules match with.
        .target(name: "LinearRegex"),
        // Webhook signatures: Standard Webhooks, hmac-sha256, url-token (verification and signing).
        .target(name: "WebhookAuth", dependencies: ["RetryCore"]),
        // Rules files: strict YAML with line numbers, the rule set, classification, tests, explain.
        .target(
            name: "RetryRules",
            dependencies: [
                "RetryCore",
                "LinearRegex",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The file store: the journal's line codec, the file, group commit, replay, compaction, lock.
        .target(
            name: "RetryJournal",
            dependencies: [
                "RetryCore",
                "CCRC32C",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The PostgreSQL store: the same records and decisions as the file store, with each task's
        // state in a row decided under a row lock, so several agents can share one database.
        .target(
            name: "RetryPostgres",
            dependencies: [
                "RetryCore",
                "RetryJournal",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // The services: listeners, the engine that carries out the core's decisions, the
        // dispatcher, the HDP client, metrics, configuration, the rules reloader, and the wiring.
        .target(
            name: "RetryAgent",
            dependencies: [
                "RetryCore",
                "WebhookAuth",
                "RetryRules",
                "RetryJournal",
                "RetryPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
        ),
        .executableTarget(
            name: "hdp-retry-agent",
            dependencies: [
                "RetryAgent",
                "RetryPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "hdp-retry-bench",
            dependencies: [
                "RetryAgent",
                "RetryPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                "COpenSSL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzzing harnesses for the parsers that read untrusted or hand-edited input. `.ci/fuzz`
        // builds them with libFuzzer and AddressSanitizer; this ordinary build replays the corpus.
        .executableTarget(
            name: "hdp-retry-fuzz",
            dependencies: ["RetryCore", "WebhookAuth", "RetryRules", "LinearRegex", "RetryJournal", "RetryTesting"]
        ),
        .target(
            name: "HDPSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "hdp-sim",
            dependencies: [
                "HDPSimulator",
                "RetryCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test doubles shared by the test targets: a manual clock, a seeded generator, samples.
        .target(
            name: "RetryTesting",
            dependencies: [
                "RetryCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "RetryCoreTests", dependencies: ["RetryCore", "RetryTesting"]),
        .testTarget(name: "LinearRegexTests", dependencies: ["LinearRegex", "RetryTesting"]),
        .testTarget(
            name: "WebhookAuthTests",
            dependencies: ["WebhookAuth", "RetryTesting"],
            exclude: ["Vectors/generate_standard_webhooks.py"]
        ),
        .testTarget(name: "RetryRulesTests", dependencies: ["RetryRules", "LinearRegex", "RetryTesting"]),
        .testTarget(name: "RetryJournalTests", dependencies: ["RetryJournal", "RetryTesting"]),
        .testTarget(name: "RetryPostgresTests", dependencies: ["RetryPostgres", "RetryJournal", "RetryTesting"]),
        .testTarget(
            name: "RetryAgentTests",
            dependencies: [
                "RetryAgent",
                "RetryTesting",
                "HDPSimulator",
                "RetryPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "HDPSimulatorTests",
            dependencies: [
                "HDPSimulator",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
