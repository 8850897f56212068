import Foundation
import Logging
import RetryCore

/// Log output: `text` (one readable line per event) or `json` (one object per line, for log
/// shippers). Messages are fixed strings; variable data is metadata.
public enum AgentLogging {
    /// Bootstraps swift-log once and returns the agent's logger.
    public static func bootstrap(format: LogFormat, level logLevel: Logger.Level) -> Logger {
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
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// One log line, ending with a newline.
    public static func format(
        time: Date, level: Logger.Level, message: String, metadata: Logger.Metadata, json: Bool
    ) -> String {
        if json {
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("time", ISO8601.format(time))
            writer.field("level", level.rawValue)
            writer.field("message", message)
            for key in metadata.keys.sorted() { writer.field(key, "\(metadata[key]!)") }
            writer.endObject()
            return String(decoding: writer.bytes, as: UTF8.self) + "\n"
        }
        let fields = metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }.joined(separator: " ")
        return
            "\(ISO8601.format(time)) \(level.rawValue.uppercased()) \(message)\(fields.isEmpty ? "" : " " + fields)\n"
    }
}
