import Foundation

/// Where HDP's failure callbacks go: an `http://` URL taken apart for a plain HTTP/1.1 client.
/// `https` is refused: the simulator's client speaks no TLS, and the agent it tests listens on
/// loopback in plain HTTP.
public struct CallbackTarget: Sendable, Hashable {
    /// The URL as it was given.
    public let url: String
    /// The host to connect to (an IPv6 address without brackets).
    public let host: String
    /// The port to connect to; 80 when the URL names none.
    public let port: Int
    /// The request target: the path (at least `/`) and the query, if any.
    public let requestTarget: String
    /// The `Host` header: the host as the URL spells it, and the port when the URL names one.
    public let hostHeader: String

    /// Takes `url` apart; throws when it is not an absolute `http://` URL with a host.
    public init(parsing url: String) throws(SimulatorError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw SimulatorError.invalidWebhook("webhook URL \(url) is not an absolute URL")
        }
        guard scheme == "http" else {
            throw SimulatorError.invalidWebhook("webhook URL \(url) must be http:// (the simulator speaks no TLS)")
        }
        guard var host = components.host, !host.isEmpty else {
            throw SimulatorError.invalidWebhook("webhook URL \(url) names no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let port = components.port, !(1...65535).contains(port) {
            throw SimulatorError.invalidWebhook("webhook URL \(url) has a port out of range")
        }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let bracketed = host.contains(":") ? "[\(host)]" : host
        self.url = url
        self.host = host
        self.port = components.port ?? 80
        self.requestTarget = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        self.hostHeader = components.port.map { "\(bracketed):\($0)" } ?? bracketed
    }
}
