/// How a webhook sender proves a delivery is genuine (`webhook.signature.scheme`).
///
/// The default is Standard Webhooks because it signs a delivery id and a timestamp along with the
/// body, which makes replays detectable; the others exist for senders that cannot do that.
public enum SignatureScheme: String, Sendable, CaseIterable, Hashable {
    /// Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp` and `webhook-signature`
    /// headers, HMAC-SHA256 over `{id}.{timestamp}.{raw body}` with a `whsec_<base64>` secret.
    case standardWebhooks = "standard-webhooks"
    /// GitHub-style `sha256=<hex>` HMAC over the raw body, optionally with a timestamp header.
    case hmacSHA256 = "hmac-sha256"
    /// The secret is the last path segment of the webhook URL, for senders that cannot sign.
    case urlToken = "url-token"
    /// No authentication at all; only when an operator configures it explicitly.
    case none
}

/// The `webhook.signature` configuration, secrets included.
///
/// Its description never shows the secrets, only how many there are, so a settings value can be
/// logged or printed in a failing test without leaking them.
public struct SignatureSettings: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The authentication scheme.
    public var scheme: SignatureScheme
    /// The header that carries `sha256=<hex>` (`hmac-sha256` only).
    public var header: String
    /// The header that carries the Unix-seconds timestamp (`hmac-sha256` only); when set, the
    /// signed content is `{ts}.{raw body}` and the timestamp must lie within `tolerance`.
    public var timestampHeader: String?
    /// How far a signed timestamp may lie from the agent's clock, in either direction.
    public var tolerance: Duration
    /// The secrets, as written. The first signs (the `send` command); all verify, so a secret can
    /// be rotated by adding the new one in front and removing the old one once senders moved.
    public var secrets: [String]

    /// The default header of the `hmac-sha256` scheme, the one GitHub uses.
    public static let defaultHeader = "X-Signature-256"
    /// The default timestamp tolerance, as in the Standard Webhooks reference libraries.
    public static let defaultTolerance = Duration.seconds(300)

    /// Settings with the defaults of SPEC §3 for everything not given.
    public init(
        scheme: SignatureScheme = .standardWebhooks,
        header: String = SignatureSettings.defaultHeader,
        timestampHeader: String? = nil,
        tolerance: Duration = SignatureSettings.defaultTolerance,
        secrets: [String] = []
    ) {
        self.scheme = scheme
        self.header = header
        self.timestampHeader = timestampHeader
        self.tolerance = tolerance
        self.secrets = secrets
    }

    /// The settings with the secrets counted, not shown; safe to log.
    public var description: String {
        var parts = ["scheme: \(scheme.rawValue)"]
        if scheme == .hmacSHA256 {
            parts.append("header: \(header)")
            if let timestampHeader { parts.append("timestamp_header: \(timestampHeader)") }
        }
        if scheme == .standardWebhooks || (scheme == .hmacSHA256 && timestampHeader != nil) {
            parts.append("tolerance: \(tolerance)")
        }
        parts.append("secrets: \(secrets.count) (redacted)")
        return "SignatureSettings(\(parts.joined(separator: ", ")))"
    }

    /// The same redacted text as `description`.
    public var debugDescription: String { description }

    /// Reflection (`dump`, `print` of an enclosing value) shows no secret either.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "scheme": scheme.rawValue, "header": header, "timestampHeader": timestampHeader as Any,
                "tolerance": tolerance, "secrets": "\(secrets.count) (redacted)",
            ])
    }
}
