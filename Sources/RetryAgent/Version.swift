import RetryCore

public enum RetryAgentVersion { public static let current = "0.1.0" }
