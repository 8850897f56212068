import RetryCore
import Testing

@testable import RetryJournal

/// The writer's index of where each task's lines are.
@Suite struct LineIndexTests {
    let one = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!
    let two = TaskID("01JPJ03YJT1A93D6NF56G4GVER")!
    let three = TaskID("3f2c5d7e-8a9b-4c1d-9e2f-0a1b2c3d4e5f")!

    @Test func linesAreFoundOldestFirstByTask() {
        var index = LineIndex()
        index.appended(
            [
                LineInfo(task: one, length: 10, seq: 1), LineInfo(task: nil, length: 5, seq: 2),
                LineInfo(task: two, length: 7, seq: 3), LineInfo(task: one, length: 4, seq: 4),
            ], at: 100)
        index.appended([LineInfo(task: one, length: 3, seq: 5)], at: 200)
        #expect(index.lookup(one).offsets == [100, 122, 200])
        #expect(index.lookup(two).offsets == [115])
        #expect(index.lookup(three).offsets == [])
        #expect(index.count == 2)
    }

    @Test func theReplayedPrefixGoesInFrontOfLaterLinesOnce() {
        var index = LineIndex(unindexedPrefix: 50)
        index.appended([LineInfo(task: one, length: 10, seq: 9), LineInfo(task: three, length: 10, seq: 10)], at: 50)
        #expect(index.lookup(one).unindexedPrefix == 50)
        var prefix = LineIndex()
        prefix.add(one, at: 0)
        prefix.add(two, at: 20)
        prefix.add(one, at: 30)
        // Indexed against another generation of the file: not merged.
        index.mergePrefix(prefix, prefixLength: 50, generation: 1)
        #expect(index.lookup(one).offsets == [50] && index.unindexedPrefix == 50)
        index.mergePrefix(prefix, prefixLength: 50, generation: 0)
        #expect(index.lookup(one).offsets == [0, 30, 50])
        #expect(index.lookup(two).offsets == [20])
        #expect(index.lookup(three).offsets == [60])
        #expect(index.unindexedPrefix == 0)
        // A second merge of the same prefix adds nothing.
        index.mergePrefix(prefix, prefixLength: 50, generation: 0)
        #expect(index.lookup(one).offsets == [0, 30, 50])
    }

    @Test func aReplacementStartsOverAndCountsAGeneration() {
        var index = LineIndex()
        index.appended([LineInfo(task: one, length: 10, seq: 1), LineInfo(task: two, length: 10, seq: 2)], at: 0)
        index.replaced(by: [LineInfo(task: two, length: 8, seq: 3)])
        #expect(index.generation == 1)
        #expect(index.lookup(one).offsets == [])
        #expect(index.lookup(two).offsets == [0])
    }
}
