#if !FUZZING
import Foundation
import RetryTesting

/// Random mutation of a committed corpus through the harnesses, in the ordinary build.
///
/// Not a fuzzer: nothing guides it towards new code (that is libFuzzer's job in `.ci/fuzz`). It
/// shows, on the one build CI makes, that every harness keeps its properties on inputs beyond its
/// seeds: bytes flipped, inserted, deleted and repeated, seeds spliced together, and the bytes
/// that parsers of these formats treat specially (quotes, escapes, separators, line breaks, a
/// combining mark, invalid UTF-8) put in at random places.
enum Mutation {
    /// Bytes worth inserting: JSON, header, YAML and regex punctuation, line breaks, NUL, DEL,
    /// a UTF-8 combining mark (U+0301) and stray continuation and lead bytes.
    private static let interesting: [[UInt8]] = [
        [0x22], [0x5C], [0x2C], [0x20], [0x0A], [0x0D], [0x0D, 0x0A], [0x00], [0x7F], [0x09], [0x3A],
        [0x7B], [0x7D], [0x5B], [0x5D], [0x28], [0x29], [0x2A], [0x7C], [0x2D], [0x23],
        [0xCC, 0x81], [0xC2, 0x85], [0xE2, 0x80, 0xA8], [0x80], [0xC0], [0xFF],
        Array("\\u0000".utf8), Array("\\ud800".utf8), Array("1e999".utf8), Array("v1,".utf8),
    ]

    /// One to four random edits of `input`, some taking bytes from `other`.
    static func mutate(_ input: [UInt8], other: [UInt8], limit: Int, using generator: inout SeededGenerator) -> [UInt8]
    {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<7, using: &generator) {
            case 0 where position < bytes.count:
                bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
            case 1 where position < bytes.count:
                bytes[position] = UInt8.random(in: 0...255, using: &generator)
            case 2 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &generator))
                bytes.removeSubrange(position..<end)
            case 3:
                bytes.insert(contentsOf: interesting.randomElement(using: &generator)!, at: position)
            case 4 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...32, using: &generator))
                bytes.insert(contentsOf: Array(bytes[position..<end]), at: end)
            case 5 where !other.isEmpty:
                // Splice: this input's head, the other's tail.
                let cut = Int.random(in: 0..<other.count, using: &generator)
                bytes = Array(bytes[..<position]) + other[cut...]
            default:
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            }
        }
        return bytes.count > limit ? Array(bytes.prefix(limit)) : bytes
    }

    /// Mutates each harness's seeds under `folder` for `seconds`; true when no property failed.
    /// A failing input is written to `./mutate-failures/<target>-<n>` for `replay`.
    static func runAll(folder: String, seconds: Double, seed: UInt64?) -> Bool {
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        print("mutate: HDP_FUZZ_SEED=\(seed), \(seconds) s per target")
        var generator = SeededGenerator(seed: seed)
        var passed = true
        var found = false
        for target in FuzzTarget.all {
            let path = (folder as NSString).appendingPathComponent(target.name)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { !$0.hasPrefix(".") }.sorted()
            let seeds = names.compactMap {
                FileManager.default.contents(atPath: (path as NSString).appendingPathComponent($0)).map(Array.init)
            }
            guard !seeds.isEmpty else { continue }
            found = true
            passed = run(target, seeds: seeds, seconds: seconds, using: &generator) && passed
        }
        if !found { FileHandle.standardError.write(Data("hdp-retry-fuzz: no target folders in \(folder)\n".utf8)) }
        return passed && found
    }

    /// One harness: mutations of `seeds` until `seconds` have passed or 10 inputs failed.
    static func run(
        _ target: FuzzTarget, seeds: [[UInt8]], seconds: Double, using generator: inout SeededGenerator
    ) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        let limit = max(target.maximumLength, seeds.map(\.count).max() ?? 0)
        var executions = 0
        var failures = 0
        var pool = seeds
        while failures < 10, executions % 64 != 0 || clock.now < deadline {
            let input = mutate(
                pool.randomElement(using: &generator)!, other: pool.randomElement(using: &generator)!,
                limit: limit, using: &generator)
            executions += 1
            let result = input.withUnsafeBytes { bytes in
                Result { () throws(PropertyViolation) in try target.run(bytes) }
            }
            switch result {
            case .success:
                // Mutations of mutations reach further; the pool stays bounded.
                if pool.count < seeds.count + 256 {
                    pool.append(input)
                } else {
                    pool[seeds.count + Int.random(in: 0..<256, using: &generator)] = input
                }
            case .failure(let violation):
                failures += 1
                let directory = "mutate-failures"
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let file = "\(directory)/\(target.name)-\(failures)"
                FileManager.default.createFile(atPath: file, contents: Data(input))
                print("\(file): \(target.name): \(violation.message)")
            }
        }
        print("\(target.name): \(executions) mutated inputs, \(failures) violations")
        return failures == 0
    }
}
#endif
