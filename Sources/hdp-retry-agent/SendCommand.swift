import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RetryAgent
import RetryCore
import WebhookAuth

/// `send`: signs a sample failure notice with the configured secret and delivers it.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Sign a sample failure notification and deliver it to the agent (smoke test)."
    )

    @Option(help: "YAML configuration file (for the listener, path and signature scheme).") var config: String?
    @Option(help: "Task status.") var status = "AtlanticProvingFailed"
    @Option(help: "Task id (ULID or UUID).") var task = "01JPJ03YJT1A93D6NF56G4GVEQ"
    @Option(help: "Error text.") var error = "prover timeout"
    @Option(help: "Webhook URL (default: the configured listener and path).") var url: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(file: config, environment: environment, flags: .init())
        } catch {
            FileHandle.standardError.write(Data("send: configuration error:\n\(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let logger = Logger(label: "send", factory: { _ in SwiftLogNoOpLogHandler() })
        let secrets = try SenderSecrets.secrets(configuration: configuration, environment: environment, logger: logger)
        let scheme = configuration.webhook.scheme
        let signer = try WebhookSigner(
            settings: SignatureSettings(
                scheme: scheme, header: configuration.webhook.header,
                timestampHeader: configuration.webhook.timestampHeader,
                tolerance: configuration.webhook.tolerance, secrets: secrets
            )
        )
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("task_id", task)
        writer.field("status", status)
        writer.field("error", error)
        writer.field("timestamp", Date())
        writer.endObject()
        let body = writer.bytes
        let deliveryID =
            "msg_" + Crypto.hexEncoded((try? Crypto.randomBytes(count: 12)) ?? Array(UUID().uuidString.utf8))
        let signed = signer.sign(body: body, now: Date(), deliveryID: deliveryID)
        // The URL as shown: never with a url-token secret in it.
        let shown = url ?? "http://\(configuration.listen)\(configuration.webhook.path)"
        var target = shown
        if let suffix = signed.pathSuffix {
            target += "/" + suffix
        }
        var request = HTTPClientRequest(url: target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for header in signed.headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        // Redirects are not followed: the signature headers would go wherever a Location points.
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            try await deliver(request, with: client, target: shown)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func deliver(_ request: HTTPClientRequest, with client: HTTPClient, target: String) async throws {
        do {
            let response = try await client.execute(request, timeout: .seconds(15))
            let answer = try await response.body.collect(upTo: 1 << 20)
            print("HTTP \(response.status.code)")
            print(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))
            if (300..<400).contains(Int(response.status.code)) {
                let location = response.headers.first(name: "location") ?? "-"
                FileHandle.standardError.write(
                    Data(
                        "send: the agent answered a redirect to \(location); not followed (it would carry the signature)\n"
                            .utf8))
            }
            if !(200..<300).contains(Int(response.status.code)) { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(
                Data(
                    "send: cannot deliver to \(target): \(error)\n"
                        .utf8))
            throw ExitCode(1)
        }
    }
}
