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
/// lazily, on the first lookup (``unindexedPrefix``), so replay itself does no extra work and an
/// agent nobody asks about tasks holds no index.
struct LineIndex: Sendable {
    private(set) var offsets: [TaskID: [Int64]] = [:]
    /// Bytes at the start of the file not indexed yet (the replayed journal); 0 once they are.
    private(set) var unindexedPrefix: Int64 = 0
    /// Replacements of the file so far.
    private(set) var generation = 0

    init(unindexedPrefix: Int64 = 0) {
        self.unindexedPrefix = unindexedPrefix
    }

    /// What a lookup found.
    struct Lookup: Sendable {
        var offsets: [Int64]
        var unindexedPrefix: Int64
        var generation: Int
    }

    func lookup(_ task: TaskID) -> Lookup {
        Lookup(offsets: offsets[task] ?? [], unindexedPrefix: unindexedPrefix, generation: generation)
    }

    /// `lines` were written one after the other from `offset`.
    mutating func appended(_ lines: [LineInfo], at offset: Int64) {
        var position = offset
        for line in lines {
            if let task = line.task { offsets[task, default: []].append(position) }
            position += Int64(line.length)
        }
    }

    /// The file now holds `lines` from its start.
    mutating func replaced(by lines: [LineInfo]) {
        offsets = [:]
        unindexedPrefix = 0
        generation += 1
        appended(lines, at: 0)
    }

    /// Adds the offsets of the file's first `prefix` bytes in front of the later ones, unless the
    /// file was replaced since they were read (`generation` differs) or they were added already.
    mutating func mergePrefix(_ prefixOffsets: [TaskID: [Int64]], prefix: Int64, generation: Int) {
        guard generation == self.generation, unindexedPrefix == prefix, prefix > 0 else { return }
        for (task, early) in prefixOffsets {
            offsets[task] = early + (offsets[task] ?? [])
        }
        unindexedPrefix = 0
    }
}
