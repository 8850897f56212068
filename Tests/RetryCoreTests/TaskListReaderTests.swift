import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// Reading a page of HDP's undocumented task list: every shape SPEC §7 names, the
/// `reconcile.fields` overrides, and items that cannot be read.
@Suite struct TaskListReaderTests {
    static let task = "01JPJ03YJT1A93D6NF56G4GVEQ"
    static let time = Date(timeIntervalSince1970: 1_742_292_000)

    static func read(_ json: String, fields: TaskListFields = TaskListFields()) throws -> ListedPage {
        try TaskListReader.read(Array(json.utf8), fields: fields)
    }

    @Test(
        "items from a top-level array or tasks, data, items; id, error and time in every spelling",
        arguments: [
            #"[{"id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","errorMessage":"rpc timeout","updatedAt":"2025-03-18T10:00:00Z"}]"#,
            #"{"tasks":[{"uuid":"01jpj03yjt1a93d6nf56g4gveq","status":"TraceGenFailed","error":"rpc timeout","updated_at":"2025-03-18T10:00:00.000Z"}],"page":1,"total":1}"#,
            #"{"data":[{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","errorMessage":"rpc timeout","updatedAt":1742292000}]}"#,
            #"{"items":[{"taskId":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","errorMessage":"rpc timeout","updatedAt":"2025-03-18T11:00:00+01:00"}]}"#,
            #"{"data":{"x":1},"items":[{"id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","error":"rpc timeout","updated_at":"1742292000"}]}"#,
        ])
    func shapes(json: String) throws {
        let page = try Self.read(json)
        #expect(page.itemCount == 1)
        #expect(page.unreadable.isEmpty)
        let task = try #require(page.tasks.first)
        #expect(task.taskID == TaskID(Self.task))
        #expect(task.status == "TraceGenFailed")
        #expect(task.error == "rpc timeout")
        #expect(task.updatedAt == Self.time)
    }

    @Test("reconcile.fields replace the built-in lookups, from the top of the body and of each item")
    func fieldOverrides() throws {
        let json = #"""
            {"result":{"rows":[{"ref":{"id":"01JPJ03YJT1A93D6NF56G4GVEQ"},"state":"DryRunFailed",
              "failure":{"text":"bad input"},"changed":"2025-03-18T10:00:00Z","id":"not-this"}]}}
            """#
        let fields = TaskListFields(
            items: "result.rows", taskID: "ref.id", status: "state", error: "failure.text", updatedAt: "changed")
        let page = try Self.read(json, fields: fields)
        let task = try #require(page.tasks.first)
        #expect(task.taskID == TaskID(Self.task))
        #expect(task.status == "DryRunFailed")
        #expect(task.error == "bad input")
        #expect(task.updatedAt == Self.time)
        // Without the override the items are not found at all.
        #expect(throws: TaskListError.self) { try Self.read(json) }
    }

    @Test("an unreadable item is counted and said why; the others are read")
    func unreadableItems() throws {
        let json = #"""
            {"tasks":[
              {"id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","updatedAt":"2025-03-18T10:00:00Z"},
              {"status":"TraceGenFailed"},
              {"id":"../../etc/passwd","status":"TraceGenFailed"},
              {"id":"01JPJ03YJT1A93D6NF56G4GVEA"},
              "not an object",
              {"id":"01JPJ03YJT1A93D6NF56G4GVEB","status":"Received"},
              {"id":"01JPJ03YJT1A93D6NF56G4GVEC","status":"DryRunFailed","updatedAt":"last tuesday","error":42}
            ]}
            """#
        let page = try Self.read(json)
        #expect(page.itemCount == 7)
        #expect(
            page.tasks.map(\.taskID.rawValue) == [
                Self.task, "01JPJ03YJT1A93D6NF56G4GVEB", "01JPJ03YJT1A93D6NF56G4GVEC",
            ])
        #expect(
            page.unreadable == [
                "item 2: no task id (looked at id, uuid, task_id, taskId)",
                "item 3: the task id is neither a ULID nor a UUID",
                "item 4: no status (looked at status)",
                "item 5: not an object",
            ])
        // A time or an error that cannot be read is no time and no error, not an unreadable item.
        #expect(page.tasks[2].updatedAt == nil && page.tasks[2].error == nil)
        #expect(page.tasks[1].updatedAt == nil)
    }

    @Test(
        "a body that is not JSON, or holds no list, is an error naming what was looked at",
        arguments: [
            ("<html>", "the task list is not JSON"),
            (#"{"tasks":{"id":"x"}}"#, "no list of tasks: looked for a top-level array and for tasks, data, items"),
            (#""tasks""#, "no list of tasks"),
        ])
    func unreadablePages(body: String, message: String) {
        #expect {
            try Self.read(body)
        } throws: { error in
            (error as? TaskListError)?.description.hasPrefix(message) == true
        }
    }

    @Test("times are kept to the millisecond, as the journal keeps them")
    func timesRoundToMilliseconds() throws {
        let page = try Self.read(
            #"[{"id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"DryRunFailed","updatedAt":"2025-03-18T10:00:00.1234567Z"}]"#
        )
        let time = try #require(page.tasks.first?.updatedAt)
        #expect(ISO8601.format(time) == "2025-03-18T10:00:00.123Z")
        // The very instant the journal reads back from its own spelling of it.
        #expect(ISO8601.parse(ISO8601.format(time)) == time)
    }

    @Test("the item is kept whole as the payload the rules see")
    func itemIsThePayload() throws {
        let page = try Self.read(
            #"[{"id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"DryRunFailed","chain":{"id":11155111}}]"#)
        #expect(page.tasks.first?.item[path: "chain.id"] == .number(11_155_111))
    }
}
