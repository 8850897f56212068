import RetryCore

/// The task, length and sequence number of one journal line, as the writer queues it.
public struct LineInfo: Sendable, Hashable {
    public var task: TaskID?
    public var length: Int
    public var seq: UInt64

    public init(task: TaskID?, length: Int, seq: UInt64) {
        self.task = task
        self.length = length
        self.seq = seq
    }
}

/// Where each task's lines start in the journal file, so that a task's history is read line by
/// line (`pread` at known offsets) instead of by scanning the whole journal.
///
/// The writer keeps it, since only the writer knows where a line lands: it adds the lines of
/// each batch it writes, and starts over from the snapshot's lines when a compaction replaces
/// the file (``generation`` counts those). The journal the agent replayed at start is indexed
/// lazily, on the first lookup (``unindexedPrefix``), so replay itself does no extra work.
///
/// Kept small, since it has an entry for every task in the journal: a task is known by its id's
/// hash (8 bytes, not the id's 24), and its first line's offset is held in the table itself; only
/// a task with more lines has an array. Two tasks whose hashes collide (rare; the hash is seeded
/// per process) share an entry, and the reader skips the lines that are not the task's.
struct LineIndex: Sendable {
    /// The offset of each task's first line, by ``key(_:)``.
    private var first: [Int: Int64] = [:]
    /// The offsets of each task's later lines, oldest first; only tasks with more than one line.
    private var later: [Int: [Int64]] = [:]
    /// Bytes at the start of the file not indexed yet (the replayed journal); 0 once they are.
    private(set) var unindexedPrefix: Int64 = 0
    /// Replacements of the file so far.
    private(set) var generation = 0

    init(unindexedPrefix: Int64 = 0) {
        self.unindexedPrefix = unindexedPrefix
    }

    /// What a lookup found.
    struct Lookup: Sendable {
        /// Line offsets, oldest first: the task's, and any of a task whose hash is the same.
        var offsets: [Int64]
        var unindexedPrefix: Int64
        var generation: Int
    }

    private static func key(_ task: TaskID) -> Int { task.hashValue }

    /// Tasks with at least one line.
    var count: Int { first.count }

    func lookup(_ task: TaskID) -> Lookup {
        Lookup(offsets: offsets(Self.key(task)), unindexedPrefix: unindexedPrefix, generation: generation)
    }

    private func offsets(_ key: Int) -> [Int64] {
        guard let head = first[key] else { return [] }
        return [head] + (later[key] ?? [])
    }

    private mutating func add(_ key: Int, _ offset: Int64) {
        if first[key] == nil {
            first[key] = offset
        } else {
            later[key, default: []].append(offset)
        }
    }

    /// `lines` were written one after the other from `offset`.
    mutating func appended(_ lines: [LineInfo], at offset: Int64) {
        var position = offset
        for line in lines {
            if let task = line.task { add(Self.key(task), position) }
            position += Int64(line.length)
        }
    }

    /// Adds a line of `task` at `offset`, after the ones it has.
    mutating func add(_ task: TaskID, at offset: Int64) {
        add(Self.key(task), offset)
    }

    /// The file now holds `lines` from its start.
    mutating func replaced(by lines: [LineInfo]) {
        first = [:]
        later = [:]
        unindexedPrefix = 0
        generation += 1
        appended(lines, at: 0)
    }

    /// Puts the lines of `prefix` (the file's first `prefixLength` bytes, indexed from offset 0)
    /// in front of the later ones, unless the file was replaced since they were read
    /// (`generation` differs) or they were added already.
    mutating func mergePrefix(_ prefix: LineIndex, prefixLength: Int64, generation: Int) {
        guard generation == self.generation, unindexedPrefix == prefixLength, prefixLength > 0 else { return }
        var merged = prefix
        for key in first.keys {
            for offset in offsets(key) { merged.add(key, offset) }
        }
        first = merged.first
        later = merged.later
        unindexedPrefix = 0
    }
}
