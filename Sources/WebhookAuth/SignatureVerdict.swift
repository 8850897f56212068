/// The outcome of authenticating one delivery.
public enum SignatureVerdict: Sendable, Hashable {
    /// The delivery is genuine. `deliveryID` is the sender's delivery id (`webhook-id` or
    /// `svix-id`) when the scheme has one and signs it; the pipeline deduplicates on it, and
    /// falls back to a hash of the body when it is `nil`.
    case verified(deliveryID: String?)
    /// The delivery is not authenticated. The reason is for metrics and logs only: the HTTP
    /// answer is one generic 401 message, so a forger learns nothing about what was wrong.
    case rejected(SignatureFailure)

    /// Whether the delivery may be processed.
    public var isVerified: Bool {
        if case .verified = self { return true }
        return false
    }
}

/// Why a delivery was not authenticated, with a stable `reason` safe as a log field.
///
/// It never carries the expected signature, the secret or any part of them.
public struct SignatureFailure: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Reason: String, Sendable, Hashable {
        case missingHeaders = "missing_headers"
        case malformedHeader = "malformed_header"
        case timestampOutsideTolerance = "timestamp_outside_tolerance"
        case noMatchingSignature = "no_matching_signature"
        case badToken = "bad_token"
    }

    private let base: Reason

    private init(_ base: Reason) { self.base = base }

    /// A header the scheme needs is absent or empty.
    public static let missingHeaders = SignatureFailure(.missingHeaders)
    /// A header is present but cannot be read (timestamp not Unix seconds, not `sha256=<hex>`, …).
    public static let malformedHeader = SignatureFailure(.malformedHeader)
    /// The signed timestamp is too old or too far in the future (possible replay).
    public static let timestampOutsideTolerance = SignatureFailure(.timestampOutsideTolerance)
    /// No signature in the delivery matches any configured secret.
    public static let noMatchingSignature = SignatureFailure(.noMatchingSignature)
    /// The path token is absent or is not a configured secret (`url-token`).
    public static let badToken = SignatureFailure(.badToken)

    /// A short, stable identifier: `missing_headers`, `malformed_header`,
    /// `timestamp_outside_tolerance`, `no_matching_signature` or `bad_token`.
    public var reason: String { base.rawValue }

    /// A sentence for logs; the HTTP answer stays generic.
    public var description: String {
        switch base {
        case .missingHeaders: "a required signature header is missing"
        case .malformedHeader: "a signature header is malformed"
        case .timestampOutsideTolerance: "the signed timestamp is outside the tolerance"
        case .noMatchingSignature: "no signature matches a configured secret"
        case .badToken: "the URL token is missing or wrong"
        }
    }
}

/// Why signature settings cannot be used, found when the agent starts or reloads its settings.
///
/// Secrets are named by their position (1-based, as listed in `WEBHOOK_SECRETS` or the secrets
/// file); their text never appears in the message.
public struct SignatureConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Reason: String, Sendable, Hashable {
        case noSecret = "no_secret"
        case emptySecret = "empty_secret"
        case secretNotBase64 = "secret_not_base64"
        case tokenNotURLSafe = "token_not_url_safe"
        case tokenTooShort = "token_too_short"
        case keyTooShort = "key_too_short"
        case secretTooShort = "secret_too_short"
        case invalidHeaderName = "invalid_header_name"
        case invalidTolerance = "invalid_tolerance"
    }

    private let base: Reason
    private let detail: String
    /// Which configured secret (1-based) the problem is with, when it is about one.
    public let position: Int?

    private init(_ base: Reason, _ detail: String, position: Int? = nil) {
        self.base = base
        self.detail = detail
        self.position = position
    }

    /// The scheme needs a secret and none is configured.
    static func noSecret(_ scheme: SignatureScheme) -> Self {
        Self(
            .noSecret,
            "the \(scheme.rawValue) scheme needs a secret (WEBHOOK_SECRETS or webhook.signature.secrets_file)")
    }

    /// Secret number `position` is empty.
    static func emptySecret(_ position: Int) -> Self {
        Self(.emptySecret, "webhook secret \(position) is empty", position: position)
    }

    /// Secret number `position` is not `whsec_<base64>` (standard-webhooks).
    static func secretNotBase64(_ position: Int) -> Self {
        Self(
            .secretNotBase64,
            "webhook secret \(position) is not valid for standard-webhooks: expected whsec_ followed by "
                + "non-empty base64 (A-Z a-z 0-9 + /, optional = padding)", position: position)
    }

    /// Secret number `position` has characters that are not URL-safe (url-token).
    static func tokenNotURLSafe(_ position: Int) -> Self {
        Self(
            .tokenNotURLSafe,
            "webhook secret \(position) is not usable as a URL token: only letters, digits, - and _ are allowed",
            position: position)
    }

    /// Secret number `position` is too short to resist guessing (url-token).
    static func tokenTooShort(_ position: Int, minimum: Int) -> Self {
        Self(
            .tokenTooShort,
            "webhook secret \(position) is too short for a URL token: use at least \(minimum) characters",
            position: position)
    }

    /// Secret number `position` decodes to a key shorter than `minimum` bytes (standard-webhooks).
    static func keyTooShort(_ position: Int, minimum: Int) -> Self {
        Self(
            .keyTooShort,
            "webhook secret \(position) is too short: a whsec_ key must decode to at least \(minimum) bytes "
                + "(hdp-retry-agent generates 32)", position: position)
    }

    /// Secret number `position` has fewer than `minimum` characters (hmac-sha256).
    static func secretTooShort(_ position: Int, minimum: Int) -> Self {
        Self(
            .secretTooShort,
            "webhook secret \(position) is too short: an hmac-sha256 secret must have at least \(minimum) characters",
            position: position)
    }

    /// A configured header name is not an HTTP token.
    static func invalidHeaderName(_ key: String) -> Self {
        Self(.invalidHeaderName, "webhook.signature.\(key) is not a valid HTTP header name")
    }

    /// The tolerance is zero or negative.
    static var invalidTolerance: Self {
        Self(.invalidTolerance, "webhook.signature.tolerance must be greater than zero")
    }

    /// A short, stable identifier of the problem, e.g. `secret_not_base64`.
    public var reason: String { base.rawValue }

    /// The problem in words for the operator, naming the secret by position only.
    public var description: String { detail }
}
