import Foundation
import Logging
import RetryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log output: `text` (one readable line per event) or `json` (one object per line, for log
/// shippers). Messages are fixed strings; variable data is metadata.
public enum AgentLogging {
    /// Bootstraps swift-log once and returns the agent's logger.
    public static func bootstrap(format: LogFormat, level logLevel: Logger.Level) -> Logger {
        StandardError.ignoreBrokenPipes()
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, json: format == .json)
            handler.logLevel = logLevel
            return handler
        }
        var logger = Logger(label: "hdp-retry-agent")
        logger.logLevel = logLevel
        return logger
    }
}

/// Writes one line per event to standard error.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let json: Bool

    public init(label: String, json: Bool) {
        self.label = label
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line = Self.format(
            time: Date(), level: event.level, message: "\(event.message)", metadata: merged, json: json
        )
        StandardError.write(line)
    }

    /// One log line, ending with a newline.
    public static func format(
        time: Date, level: Logger.Level, message: String, metadata: Logger.Metadata, json: Bool
    ) -> String {
        let keys = metadata.count > 1 ? metadata.keys.sorted() : Array(metadata.keys)
        if json {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("time")
            writer.date(time)
            writer.field("level", level.rawValue)
            writer.field("message", message)
            for key in keys { writer.field(key, "\(metadata[key]!)") }
            writer.endObject()
            var bytes = writer.bytes
            bytes.append(0x0A)
            return String(decoding: bytes, as: UTF8.self)
        }
        var line = ISO8601.format(time)
        line.reserveCapacity(64 + message.utf8.count + keys.count * 32)
        line += " "
        line += Self.levelWords[level] ?? level.rawValue.uppercased()
        line += " "
        line += message
        for key in keys {
            line += " "
            line += key
            line += "="
            line += "\(metadata[key]!)"
        }
        line += "\n"
        return line
    }

    private static let levelWords: [Logger.Level: String] = Dictionary(
        uniqueKeysWithValues: Logger.Level.allCases.map { ($0, $0.rawValue.uppercased()) })
}

/// Standard error, written so that logging can never stop the agent: whole lines under a lock (no
/// interleaving between threads), partial writes completed, and a failed write (a closed pipe, a
/// full disk behind a redirect) dropped rather than raised. SIGPIPE is ignored at start
/// (``ignoreBrokenPipes()``), so a reader that goes away (`serve | head -3`) costs lines, not the
/// process.
enum StandardError {
    private static let lock = Mutex(())

    /// Ignores SIGPIPE for the whole process: a write to a closed pipe then fails with EPIPE.
    static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    static func write(_ line: String) {
        var line = line
        lock.withLock { _ in
            line.withUTF8 { bytes in
                var written = 0
                while written < bytes.count {
                    let count = Glibc.write(2, bytes.baseAddress! + written, bytes.count - written)
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { return }
                    written += count
                }
            }
        }
    }
}
