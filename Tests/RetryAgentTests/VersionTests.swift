import Testing

@testable import RetryAgent
