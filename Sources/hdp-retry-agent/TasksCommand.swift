import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import RetryAgent
import RetryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `tasks list|show`: the admin API's task views (`GET /tasks`, `GET /tasks/{id}`) as tables for a
/// person at a terminal. It reads a running agent and changes nothing.
///
/// Exit codes: 0 printed; 1 the agent answered with an error (401 token, 404 unknown task, 503 not
/// replayed yet, 400); 2 a configuration or token file that cannot be read; 3 the agent cannot be
/// reached; 64 a bad argument.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks", abstract: "Show the agent's tasks from its admin API (list, show ID).",
        discussion: """
            Reads a running agent's admin listener: GET /tasks?state=STATE&limit=N and GET /tasks/{id}.

            Admin URL: --admin, else http://<admin_listen> from --config and HDP_RETRY_ADMIN_LISTEN, \
            else http://127.0.0.1:9464.

            Admin token (sent as Authorization: Bearer): --token-file, else HDP_RETRY_ADMIN_TOKEN, \
            else the admin.token_file of --config.

            Exit codes: 0 printed; 1 the agent answered with an error (401, 404, 503, 400); \
            2 the configuration or token file cannot be read; 3 the agent cannot be reached.
            """,
        subcommands: [List.self, Show.self], defaultSubcommand: List.self
    )

    /// `tasks list`: one line per task, in the agent's order (open episodes most overdue first,
    /// ended ones most recently changed first).
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tasks in a state: task, state, attempts, rule, next due, last error.")

        @Option(
            help: ArgumentHelp(
                "pending, in_flight, or an ended state: \(TasksCommand.endedStates.joined(separator: ", ")).",
                valueName: "state"))
        var state = "pending"
        @Option(help: "At most this many tasks (the agent answers 1000 at most).") var limit = 100
        @Flag(help: "Print the agent's JSON answer as it is.") var json = false
        @OptionGroup var connection: AdminConnection

        func validate() throws {
            guard TaskState(rawValue: state) != nil else {
                let known = TaskState.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--state must be one of: \(known)")
            }
            guard (1...AdminRoutes.maximumListLimit).contains(limit) else {
                throw ValidationError("--limit must be between 1 and \(AdminRoutes.maximumListLimit)")
            }
        }

        func run() async throws {
            try await TasksCommand.reporting { try await list() }
        }

        private func list() async throws {
            let admin = try connection.resolve()
            let body = try await admin.get("/tasks?state=\(state)&limit=\(limit)", what: "the task list")
            if json { return print(String(decoding: body, as: UTF8.self), terminator: "") }
            let listing: TaskListing
            do {
                listing = try JSONDecoder().decode(TaskListing.self, from: Data(body))
            } catch {
                throw TasksFailure.unreadable(url: admin.url("/tasks"), error: error)
            }
            for line in TaskTable.render(listing, limit: limit, now: Date(), width: TerminalWidth.current()) {
                print(line)
            }
        }
    }

    /// `tasks show ID`: the task's fields and its journal history, one line per record.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one task: its state, open episode and journal history.")

        @Argument(help: "Task id (ULID or UUID).") var id: String
        @Flag(help: "Print the agent's JSON answer as it is.") var json = false
        @OptionGroup var connection: AdminConnection

        func validate() throws {
            guard TaskID(id) != nil else { throw ValidationError(TaskID.problem(with: id)) }
        }

        func run() async throws {
            try await TasksCommand.reporting { try await show() }
        }

        private func show() async throws {
            let task = TaskID(id)!
            let admin = try connection.resolve()
            let body = try await admin.get("/tasks/\(task.rawValue)", what: "task \(task.rawValue)")
            if json { return print(String(decoding: body, as: UTF8.self), terminator: "") }
            let detail: TaskSummary
            let history: [JSONValue]
            do {
                detail = try JSONDecoder().decode(TaskSummary.self, from: Data(body))
                if case .array(let records)? = try JSONValue.parse(body)[path: "history"] {
                    history = records
                } else {
                    history = []
                }
            } catch {
                throw TasksFailure.unreadable(url: admin.url("/tasks/\(task.rawValue)"), error: error)
            }
            let lines = TaskDetail.render(detail, history: history, now: Date(), width: TerminalWidth.current())
            for line in lines { print(line) }
        }
    }

    /// The ended states, for `--state`'s help.
    static var endedStates: [String] { EpisodeOutcome.allCases.map(\.rawValue) }
}

extension TasksCommand {
    /// Runs a subcommand body, turning a ``TasksFailure`` into its message and exit code.
    static func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as TasksFailure {
            FileHandle.standardError.write(Data("tasks: \(failure.description)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }
}
