import RetryAgent

print(RetryAgentVersion.current)
