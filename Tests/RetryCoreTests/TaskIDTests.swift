import RetryTesting
import Testing

@testable import RetryCore

@Suite struct TaskIDTests {
    static let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// A random ULID spelling with each letter in a random case.
    static func randomULID(_ random: inout SeededGenerator) -> (spelling: String, canonical: String) {
        var canonical = String(crockford[Int(random.next() % 8)])
        for _ in 0..<25 { canonical.append(crockford[Int(random.next() % 32)]) }
        let spelling = String(canonical.map { random.next() % 2 == 0 ? Character($0.lowercased()) : $0 })
        return (spelling, canonical)
    }

    /// A random UUID spelling with each hexadecimal letter in a random case.
    static func randomUUID(_ random: inout SeededGenerator) -> (spelling: String, canonical: String) {
        let hex = Array("0123456789abcdef")
        var canonical = ""
        for index in 0..<36 {
            canonical.append([8, 13, 18, 23].contains(index) ? "-" : hex[Int(random.next() % 16)])
        }
        let spelling = String(canonical.map { random.next() % 2 == 0 ? Character($0.uppercased()) : $0 })
        return (spelling, canonical)
    }

    @Test func spellsEveryIDInItsCanonicalCase() throws {
        var random = SeededGenerator(seed: 11)
        for _ in 0..<2000 {
            for (spelling, canonical) in [Self.randomULID(&random), Self.randomUUID(&random)] {
                let id = try #require(TaskID(spelling), "\(spelling)")
                #expect(id.rawValue == canonical)
                #expect(id == TaskID(canonical))
                #expect(id.hashValue == TaskID(canonical)?.hashValue)
            }
        }
        #expect(TaskID("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")?.rawValue == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
        #expect(TaskID("00000000000000000000000000")?.rawValue == "00000000000000000000000000")
        #expect(TaskID("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")?.rawValue == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }

    @Test(arguments: [
        "", "01JPJ03YJT1A93D6NF56G4GVE", "01JPJ03YJT1A93D6NF56G4GVEQQ", "81JPJ03YJT1A93D6NF56G4GVEQ",
        "01JPJ03YJT1A93D6NF56G4GVEI", "01JPJ03YJT1A93D6NF56G4GVEL", "01JPJ03YJT1A93D6NF56G4GVEO",
        "01JPJ03YJT1A93D6NF56G4GVEu", "01JPJ03YJT1A93D6NF56G4GVE-", " 01JPJ03YJT1A93D6NF56G4GVE",
        "01JPJ03YJT1A93D6NF56G4GVÉ", "0f8fad5b-d9cb-469f-a165-70867728950g", "0f8fad5bd-9cb-469f-a165-70867728950e",
        "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5b-d9cb-469f-a165_70867728950e",
        "{0f8fad5b-d9cb-469f-a165-7086772895}", "../../tasks/01JPJ03YJT1A93D6NF56G4",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(TaskID(text) == nil)
    }

    /// Ordering follows the canonical spelling, so sorted lists read the same as before the ids
    /// were stored as numbers.
    @Test func ordersByCanonicalSpelling() throws {
        var random = SeededGenerator(seed: 12)
        var ids: [TaskID] = []
        for _ in 0..<500 {
            ids.append(try #require(TaskID(Self.randomULID(&random).spelling)))
            ids.append(try #require(TaskID(Self.randomUUID(&random).spelling)))
        }
        #expect(ids.sorted().map(\.rawValue) == ids.map(\.rawValue).sorted())
    }
}
